import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeNoopArchive } from '../../test/fixtures/archives.js';
import { silentLogger } from '../core/log.js';
import { batchesInFlightCounter } from './batches-in-flight.js';
import { ModelRegistry } from './registry.js';
import { SERVING_DEFAULTS } from './settings.js';

const store = mkdtempSync(join(tmpdir(), 'kiln-worker-'));
let registry: ModelRegistry;

before(async () => {
  await writeNoopArchive(store, { name: 'ahead', config: 'batchSize: 2\nmaxBatchDelay: 100\nminWorkers: 1\nmaxWorkers: 1\n' });
  await writeNoopArchive(store, { name: 'pair' });
  registry = new ModelRegistry({ store: { modelStore: store, allowedUrls: [] }, defaults: { ...SERVING_DEFAULTS, workers: 0 }, logger: silentLogger(), observer: { changed: () => undefined } });
  await registry.register({ url: 'ahead.mar', initialWorkers: 1 });
});
after(async () => {
  await registry.close();
  rmSync(store, { recursive: true, force: true });
});

const predict = (text: string) => registry.predict('ahead', undefined, { input: { body: new TextEncoder().encode(text) } });
const batchSize = (response: { body: Uint8Array }) => (JSON.parse(new TextDecoder().decode(response.body)) as { batchSize: number }).batchSize;

test('a full batch handed to a busy worker thread runs after the one ahead of it, never alongside it', async () => {
  const finished: string[] = [];
  const track = (name: string, work: ReturnType<typeof predict>) => work.then((response) => (finished.push(name), response));
  // The slow batch is running when the fast one, full, is handed over; a handler that could be
  // entered twice would finish the fast one first.
  const slow = [track('slow', predict('sleep:300')), track('slow', predict('x'))];
  await new Promise((resolve) => setTimeout(resolve, 50));
  const fast = [track('fast', predict('y')), track('fast', predict('z'))];
  const sizes = (await Promise.all([...slow, ...fast])).map(batchSize);
  assert.deepEqual(sizes, [2, 2, 2, 2]);
  assert.deepEqual(finished, ['slow', 'slow', 'fast', 'fast']);
});

test('a partial batch waits for the running one to end instead of going ahead half empty', async () => {
  const slow = [predict('sleep:300'), predict('x')];
  await new Promise((resolve) => setTimeout(resolve, 50));
  // Alone past maxBatchDelay (100 ms) while the worker is busy: it is not sent ahead, and a
  // partner arriving later still joins it.
  const lone = predict('a');
  await new Promise((resolve) => setTimeout(resolve, 150));
  const partner = predict('b');
  const sizes = (await Promise.all([...slow, lone, partner])).map(batchSize);
  assert.deepEqual(sizes, [2, 2, 2, 2]);
});

test('a stopping worker gives back the batch it was handed ahead, bytes and all, and another worker answers it', async () => {
  await registry.register({ url: 'pair.mar', initialWorkers: 2 });
  const send = (text: string) =>
    registry.predict('pair', undefined, { input: { body: new TextEncoder().encode(text) }, transferable: true }).then((response) => JSON.parse(new TextDecoder().decode(response.body)));
  // Both workers busy; each then takes one request ahead (batchSize 1), moving its bytes to its thread.
  const busy = [send('sleep:400'), send('sleep:400')];
  await new Promise((resolve) => setTimeout(resolve, 100));
  const ahead = [send('x'), send('y')];
  await new Promise((resolve) => setTimeout(resolve, 50));
  await registry.scale('pair', undefined, 1, 1, true);
  const answers = await Promise.all([...busy, ...ahead]);
  assert.deepEqual(
    answers.map((answer: { input: { body: { text: string } } }) => answer.input.body.text),
    ['sleep:400', 'sleep:400', 'x', 'y'],
  );
  await registry.unregister('pair');
});

test('the shared count of batches in flight rises while batches run and falls back to zero, also after a failure', async () => {
  const counter = batchesInFlightCounter();
  const before = Atomics.load(counter, 0);
  const running = [predict('sleep:200'), predict('x')];
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(Atomics.load(counter, 0), before + 1, 'one batch handed over');
  await Promise.all(running);
  await assert.rejects(Promise.all([predict('throw'), predict('y')]));
  assert.equal(Atomics.load(counter, 0), before);
  assert.equal(before, 0, 'nothing left counted by the tests before');
});
