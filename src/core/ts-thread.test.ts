import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { prestartThread, startTypeScriptThread, stopSpareThreads } from './ts-thread.js';

const ENTRY = new URL('../../test/fixtures/threads/echo-entry.ts', import.meta.url);
const PRELOAD = new URL('../../test/fixtures/threads/preload.ts', import.meta.url);
const SLOW_PRELOAD = new URL('../../test/fixtures/threads/slow-preload.ts', import.meta.url);

async function answer(thread: Worker): Promise<{ value: number; preloaded: boolean }> {
  const [message] = (await once(thread, 'message')) as [{ value: number; preloaded: boolean }];
  await thread.terminate();
  return message;
}

test('a spare thread is handed its workerData when taken, with its preloads done; the next start is a fresh thread', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-spare-'));
  const mark = join(dir, 'preloaded');
  // A thread copies the environment when it starts: the preload writes this file once it has run.
  process.env['KILN_TEST_PRELOAD_MARK'] = mark;
  try {
    prestartThread(ENTRY, [PRELOAD]);
  } finally {
    delete process.env['KILN_TEST_PRELOAD_MARK'];
  }
  for (let waited = 0; !existsSync(mark); waited += 20) {
    assert.ok(waited < 60_000, 'the spare never ran its preload');
    await sleep(20);
  }
  rmSync(dir, { recursive: true, force: true });
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

test('a spare taken while a preload is still loading answers at once and starts no further preload', async () => {
  prestartThread(ENTRY, [SLOW_PRELOAD, PRELOAD]);
  const started = performance.now();
  assert.deepEqual(await answer(startTypeScriptThread(ENTRY, { workerData: { value: 3 } })), { value: 3, preloaded: false });
  assert.ok(performance.now() - started < 15_000, 'the spare waited for its slow preload');
});
