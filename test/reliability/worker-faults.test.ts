/**
 * A worker killed mid-batch (issue 11): a thread worker whose handler crashes its thread, and a
 * process worker SIGKILLed by the pid describe reports, each while a batch of four is in
 * flight. Only that batch's requests fail (500/503, the documented JSON), the worker is replaced
 * (a new id, and for the process a new pid, the old one gone), later requests succeed, and the
 * server and its other model stay up. Requests queued behind the batch should be served by the
 * replacement too; that is checked apart, as a known defect.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, startServer, type ServerUnderTest } from '../e2e/server/harness.js';
import { handlerMar, quickConfig } from './hostile/kind.js';
import { eventually, isRunning } from './proc.js';
import { assertControlAnswers, assertErrorBody, predictText, register, registerControl, workers, type Reply, type WorkerRow } from './served.js';

/**
 * Holds a batch for 3 s; a `crash` body throws from a timer 1.5 s in, outside any promise the
 * worker awaits, so the thread itself dies. The answer carries the batch size.
 */
const HANDLER = `module.exports = {
  async initialize() {},
  async handle(requests) {
    const texts = requests.map((r) => Buffer.from(r.body ?? r.data ?? []).toString('utf8'));
    if (texts.includes('crash')) setTimeout(() => { throw new Error('crash from a timer'); }, 1500);
    if (texts.some((t) => t === 'crash' || t === 'slow')) await new Promise((resolve) => setTimeout(resolve, 3000));
    return requests.map(() => 'batch of ' + requests.length);
  },
};`;

const BATCH = 4;
const config = (isolation: 'thread' | 'process') => quickConfig(`batchSize: ${BATCH}`, 'maxBatchDelay: 300', 'handler:', `  isolation: ${isolation}`).replace('responseTimeout: 3', 'responseTimeout: 20');

let server: ServerUnderTest;
/** What the requests queued behind each dead batch got, by model. */
const queuedBehind = new Map<string, Reply[]>();

describe('worker faults mid-batch', { timeout: 180_000 }, () => {
  before(async () => {
    server = await startServer();
    await registerControl(server);
  });

  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  it('a thread worker whose handler crashes its thread: only the batch in flight fails', async () => {
    handlerMar(server.store, 'faulty-thread', HANDLER, config('thread'));
    assert.equal((await register(server, 'faulty-thread.mar')).status, 200);
    const [worker] = await workers(server, 'faulty-thread');
    assert.equal(worker?.pid, server.process.pid, 'a thread worker runs in the server process');
    await faultMidBatch('faulty-thread', worker!, ['crash', 'a', 'b', 'c'], async () => {});
  });

  it('a process worker SIGKILLed by its pid: only the batch in flight fails', async () => {
    handlerMar(server.store, 'faulty-process', HANDLER, config('process'));
    assert.equal((await register(server, 'faulty-process.mar')).status, 200);
    const [worker] = await workers(server, 'faulty-process');
    assert.ok(worker && worker.pid !== server.process.pid, `describe should report the worker process's pid, got ${worker?.pid}`);
    await faultMidBatch('faulty-process', worker, ['slow', 'slow', 'slow', 'slow'], async () => {
      process.kill(worker.pid, 'SIGKILL');
    });
    assert.ok(await eventually(() => !isRunning(worker.pid), 5_000), `worker process ${worker.pid} still runs`);
  });

  // Found by this suite on ba784fb: ModelVersion.#onExit drained the queue with 503 "has no worker"
  // when its only worker died, although the replacement starts at once (back-off 0 s).
  it('requests queued behind the dead batch are answered by the replacement', () => {
    assert.equal(queuedBehind.size, 2, 'both faults ran');
    for (const [model, replies] of queuedBehind) {
      for (const reply of replies) assert.equal(reply.status, 200, `${model}: a request queued behind the batch answered ${reply.status} ${reply.text.slice(0, 200)}`);
    }
  });
});

/**
 * Sends `bodies` as one batch, then two requests that queue behind it, then runs `fault` while
 * the batch is in flight: the batch fails, the worker is replaced and serves, the server is up.
 */
async function faultMidBatch(model: string, before: WorkerRow, bodies: readonly string[], fault: () => Promise<void>): Promise<void> {
  const batch = bodies.map((body) => predictText(server, model, body, 60_000));
  // The batch forms within maxBatchDelay (300 ms) and then holds the worker for 3 s.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const queued = ['after-1', 'after-2'].map((body) => predictText(server, model, body, 60_000));
  await fault();
  const failed: Reply[] = await Promise.all(batch);
  for (const reply of failed) {
    assert.ok(reply.status === 500 || reply.status === 503, `an in-flight request answered ${reply.status} ${reply.text.slice(0, 200)}`);
    assertErrorBody(reply, 'in-flight request');
  }
  // Recorded here, asserted by the last test.
  queuedBehind.set(model, await Promise.all(queued));
  let replacement: WorkerRow | undefined;
  await eventually(async () => ([replacement] = await workers(server, model)).length > 0 && replacement!.id !== before.id, 20_000);
  assert.ok(replacement && replacement.id !== before.id, `the worker should be replaced: ${before.id} → ${replacement?.id}`);
  if (before.pid !== server.process.pid) assert.notEqual(replacement.pid, before.pid, 'the replacement is a new process');
  const later = await predictText(server, model, 'later');
  assert.equal(later.status, 200, later.text);
  assert.equal(server.process.exitCode, null, 'the server is up');
  assert.equal((await call(`${server.inference}/ping`)).status, 200);
  await assertControlAnswers(server, `after the fault in ${model}`);
}
