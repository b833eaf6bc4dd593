import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { prestartThread, startTypeScriptThread, stopSpareThreads } from './ts-thread.js';

const ENTRY = new URL('../../test/fixtures/threads/echo-entry.ts', import.meta.url);
const PRELOAD = new URL('../../test/fixtures/threads/preload.ts', import.meta.url);

async function answer(thread: Worker): Promise<{ value: number; preloaded: boolean }> {
  const [message] = (await once(thread, 'message')) as [{ value: number; preloaded: boolean }];
  await thread.terminate();
  return message;
}

test('a spare thread is handed its workerData when taken, with its preloads done; the next start is a fresh thread', async () => {
  prestartThread(ENTRY, [PRELOAD]);
  assert.deepEqual(await answer(startTypeScriptThread(ENTRY, { workerData: { value: 7 } })), { value: 7, preloaded: true });
  // The spare was used up: this one starts as usual, without the preload.
  assert.deepEqual(await answer(startTypeScriptThread(ENTRY, { workerData: { value: 8 } })), { value: 8, preloaded: false });
});

test('a start with options other than workerData does not take the spare; stopSpareThreads ends it', async () => {
  prestartThread(ENTRY, [PRELOAD]);
  assert.deepEqual(await answer(startTypeScriptThread(ENTRY, { workerData: { value: 1 }, resourceLimits: { maxOldGenerationSizeMb: 256 } })), {
    value: 1,
    preloaded: false,
  });
  await stopSpareThreads();
  assert.deepEqual(await answer(startTypeScriptThread(ENTRY, { workerData: { value: 2 } })), { value: 2, preloaded: false });
});
