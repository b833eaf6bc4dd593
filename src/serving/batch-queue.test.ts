import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { test } from 'node:test';
import { BatchQueue, type Job } from './batch-queue.js';

function job(queue: BatchQueue, name: string): Job {
  const added: Job = { request: { input: { body: name } }, enqueuedAt: performance.now(), resolve: () => undefined, reject: () => undefined };
  queue.push(added);
  return added;
}

const names = (jobs: readonly Job[]) => jobs.map((taken) => taken.request.input['body']);
const never = new Promise<void>(() => undefined);

test('nextFullBatch takes batchSize jobs as soon as they are there, leaving the rest queued', async () => {
  const queue = new BatchQueue('m', 10);
  const signal = new AbortController().signal;
  job(queue, 'a');
  const taking = queue.nextFullBatch(2, never, signal);
  job(queue, 'b');
  job(queue, 'c');
  assert.deepEqual(names(await taking), ['a', 'b']);
  assert.equal(queue.depth, 1);
  assert.equal(getEventListeners(signal, 'abort').length, 0, 'its abort listener is removed');
});

test('nextFullBatch gives up with nothing taken when the running batch ends or the worker stops', async () => {
  const queue = new BatchQueue('m', 10);
  job(queue, 'a');
  let finish!: () => void;
  const running = new Promise<void>((resolve) => (finish = resolve));
  const waiting = queue.nextFullBatch(2, running, new AbortController().signal);
  finish();
  assert.deepEqual(await waiting, []);
  const stop = new AbortController();
  const stopped = queue.nextFullBatch(2, never, stop.signal);
  stop.abort();
  assert.deepEqual(await stopped, []);
  // A failed batch ends the wait too; the partial batch stays for nextBatch.
  assert.deepEqual(await queue.nextFullBatch(2, Promise.reject(new Error('batch failed')), new AbortController().signal), []);
  assert.deepEqual(names(await queue.nextBatch(2, 0, new AbortController().signal)), ['a']);
});

test('a job that waited past the client timeout is dropped with a 408 when a worker takes it; fresh ones are taken', async () => {
  const queue = new BatchQueue('m', 10, 50);
  const rejected: unknown[] = [];
  const stale: Job = { request: { input: { body: 'stale' } }, enqueuedAt: performance.now() - 200, resolve: () => undefined, reject: (error) => rejected.push(error) };
  queue.push(stale);
  job(queue, 'fresh');
  assert.deepEqual(names(await queue.nextBatch(2, 0, new AbortController().signal)), ['fresh']);
  assert.equal(rejected.length, 1);
  assert.equal((rejected[0] as { code: string }).code, 'KILN_SERVE_CLIENT_TIMEOUT');
  assert.match((rejected[0] as Error).message, /clientTimeoutInMills \(50 ms\)/);
});

test('without a client timeout, however long a job waited, it is taken', async () => {
  const queue = new BatchQueue('m', 10);
  queue.push({ request: { input: { body: 'old' } }, enqueuedAt: performance.now() - 10_000_000, resolve: () => undefined, reject: () => assert.fail('rejected') });
  assert.deepEqual(names(await queue.nextBatch(1, 0, new AbortController().signal)), ['old']);
});

test('a lone job goes to the worker that started waiting last, again and again (the warm one)', async () => {
  const queue = new BatchQueue('m', 10);
  const stop = new AbortController();
  const idle = queue.nextBatch(1, 0, stop.signal);
  for (const name of ['a', 'b', 'c']) {
    // The worker that just answered asks again: it waits after `idle` did, and takes the next job.
    const warm = queue.nextBatch(1, 0, stop.signal);
    job(queue, name);
    assert.deepEqual(names(await warm), [name]);
  }
  stop.abort();
  assert.deepEqual(await idle, [], 'the worker that waited first got none');
});
