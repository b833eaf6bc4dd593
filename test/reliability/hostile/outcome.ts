/**
 * Checks a kind's registration answer against its {@link Expectation}, and for kinds that
 * register, what an attack does to the model's worker.
 */
import assert from 'node:assert/strict';
import type { ServerUnderTest } from '../../e2e/server/harness.js';
import { eventually, isRunning } from '../proc.js';
import { assertErrorBody, predictText, workers, type Reply, type WorkerRow } from '../served.js';
import { ATTACK, type Expectation } from './kind.js';

/** A stack frame line, which no message on the wire may carry. */
const STACK_LINE = /\n\s+at /;

/** Asserts the registration answer fits a `refused` or `start-fails` expectation. */
export function assertRegistration(expect: Expectation, reply: Reply): void {
  if (expect.outcome === 'serves') {
    assert.equal(reply.status, 200, `registration should succeed: ${reply.status} ${reply.text.slice(0, 300)}`);
    return;
  }
  assertErrorBody(reply, 'registration');
  const message = (reply.body as { message: string }).message;
  assert.doesNotMatch(message, STACK_LINE, 'the message carries a stack');
  if (expect.outcome === 'refused') {
    assert.ok(reply.status >= 400 && reply.status < 500, `expected a 4xx, got ${reply.status}: ${message.slice(0, 300)}`);
    return;
  }
  const fits = (reply.status >= 500 && reply.status < 600) || (expect.orRefused === true && reply.status >= 400 && reply.status < 500);
  assert.ok(fits, `expected a 5xx${expect.orRefused ? ' or 4xx' : ''}, got ${reply.status}: ${message.slice(0, 300)}`);
  assert.match(message, expect.cause, `the message should carry the cause: ${message.slice(0, 300)}`);
}

/** How long a replaced worker may take to be back (one restart, no back-off yet, plus a load). */
const REPLACE_MS = 30_000;

/** The attack on a registered model: its answer, then its worker kept or replaced and serving. */
export async function assertAttack(server: ServerUnderTest, name: string, expect: Extract<Expectation, { outcome: 'serves' }>): Promise<void> {
  const [before] = await workers(server, name);
  assert.ok(before, 'the model has a worker before the attack');
  const reply = await predictText(server, name, ATTACK);
  if (expect.predict === 'ok') assert.equal(reply.status, 200, `attack answered ${reply.status} ${reply.text.slice(0, 300)}`);
  if (expect.predict === 'error') assert.ok(reply.status >= 500 && reply.status < 600, `attack answered ${reply.status} ${reply.text.slice(0, 300)}`);
  if (reply.status !== 200) assertErrorBody(reply, 'attack');
  if (expect.worker === 'kept') {
    const after = await workers(server, name);
    assert.deepEqual(after.map(identity), [identity(before)], 'the worker should be kept');
  }
  if (expect.worker === 'replaced') {
    const replaced = await eventually(async () => (await workers(server, name)).some((worker) => worker.id !== before.id && worker.status === 'READY'), REPLACE_MS);
    assert.ok(replaced, `no new worker replaced ${before.id} within ${REPLACE_MS} ms`);
    // An isolated worker's process must be gone, not just forgotten.
    if (before.pid !== server.process.pid) assert.ok(await eventually(() => !isRunning(before.pid), 5_000), `old worker process ${before.pid} still runs`);
  }
  // Whatever happened, the model serves a normal request again (after a restart, if any).
  let normal: Reply | undefined;
  const serving = await eventually(async () => (normal = await predictText(server, name, 'hello')).status === 200, expect.worker === 'kept' ? 0 : REPLACE_MS);
  assert.ok(serving, `a normal request answered ${normal?.status} ${normal?.text.slice(0, 300)}`);
}

const identity = (worker: WorkerRow) => `${worker.id}@${worker.pid}`;
