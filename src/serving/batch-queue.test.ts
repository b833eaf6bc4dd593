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
