import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeNoopArchive } from '../../test/fixtures/archives.js';
import { parseProperties } from '../core/properties.js';
import { silentLogger } from '../core/log.js';
import { ModelRegistry } from './registry.js';
import { SERVING_DEFAULTS } from './settings.js';
import { takeSnapshot, writeSnapshot } from './snapshot.js';

const store = mkdtempSync(join(tmpdir(), 'kiln-registry-'));
let registry: ModelRegistry;
const changes: string[] = [];

before(async () => {
  await writeNoopArchive(store);
  await writeNoopArchive(join(store, 'v2'), { version: '2.0' });
  await writeNoopArchive(store, { name: 'batcher', config: 'batchSize: 4\nmaxBatchDelay: 200\nminWorkers: 1\nmaxWorkers: 1\n' });
  await writeNoopArchive(store, { name: 'slow', config: 'responseTimeout: 1\n' });
  await writeNoopArchive(store, { name: 'a' });
  await writeNoopArchive(store, { name: 'b' });
  registry = new ModelRegistry({
    store: { modelStore: store, allowedUrls: [] },
    defaults: { ...SERVING_DEFAULTS, workers: 0 },
    logger: silentLogger(),
    observer: { changed: () => changes.push('changed') },
  });
});
after(async () => {
  await registry.close();
  rmSync(store, { recursive: true, force: true });
});

const body = (text: string) => ({ input: { body: new TextEncoder().encode(text) } });
const json = (response: { body: Uint8Array }) => JSON.parse(new TextDecoder().decode(response.body));

test('register with 0 workers, predict → no worker (503 code), scale to 1, predict', async () => {
  const outcome = await registry.register({ url: 'noop.mar' });
  assert.deepEqual(outcome, { status: 'registered', name: 'noop', version: '1.0', workers: 0 });
  await assert.rejects(registry.predict('noop', undefined, body('hi')), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'KILN_SERVE_NO_WORKER');
    assert.match(error.message, /^Model "noop" has no worker to serve inference request\./);
    return true;
  });
  assert.equal(await registry.scale('noop', undefined, 1, 1, true), 'done');
  const response = await registry.predict('noop', undefined, body('hi'));
  assert.deepEqual(json(response).input, { body: { bytes: 2, text: 'hi' } });
  assert.ok(registry.healthy());
});

test('a second version, set-default, describe all, and the default cannot be removed first', async () => {
  await registry.register({ url: 'v2/noop.mar', initialWorkers: 1 });
  assert.equal(json(await registry.predict('noop', '2.0', body('x'))).model, 'noop:2.0');
  assert.equal(json(await registry.predict('noop', undefined, body('x'))).model, 'noop:1.0');
  registry.setDefault('noop', '2.0');
  assert.equal(json(await registry.predict('noop', undefined, body('x'))).model, 'noop:2.0');
  const described = registry.describe('noop', 'all');
  assert.deepEqual(described.map((d) => d.modelVersion).sort(), ['1.0', '2.0']);
  assert.equal(described.find((d) => d.modelVersion === '2.0')!.workers[0]!.status, 'READY');
  await assert.rejects(registry.unregister('noop', '2.0'), { code: 'KILN_SERVE_DEFAULT_VERSION' });
  await registry.unregister('noop', '1.0');
  assert.deepEqual(registry.describe('noop', 'all').map((d) => d.modelVersion), ['2.0']);
});

test('registering the same version twice → KILN_SERVE_MODEL_EXISTS; unknown names → not found', async () => {
  await assert.rejects(registry.register({ url: 'v2/noop.mar' }), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'KILN_SERVE_MODEL_EXISTS');
    assert.equal(error.message, 'Model version 2.0 is already registered for model noop');
    return true;
  });
  await assert.rejects(registry.predict('nope', undefined, body('x')), { code: 'KILN_SERVE_MODEL_NOT_FOUND', message: 'Model not found: nope' });
  await assert.rejects(registry.predict('noop', '9.9', body('x')), { code: 'KILN_SERVE_VERSION_NOT_FOUND', message: 'Model version: 9.9 does not exist for model: noop' });
});

test('urls: missing, relative (raw and encoded), outside the store via a link, not allowed', async () => {
  await assert.rejects(registry.register({ url: 'missing.mar' }), { code: 'KILN_SERVE_ARCHIVE_NOT_FOUND', message: 'Model not found at: missing.mar' });
  for (const url of ['../noop.mar', '%2e%2e/noop.mar', 'v2/../../x.mar']) {
    await assert.rejects(registry.register({ url }), { code: 'KILN_SERVE_URL_NOT_ALLOWED', message: `Relative path is not allowed in url: ${url}` });
  }
  const outside = mkdtempSync(join(tmpdir(), 'kiln-outside-'));
  await writeNoopArchive(outside, { name: 'escape' });
  symlinkSync(join(outside, 'escape.mar'), join(store, 'link.mar'));
  await assert.rejects(registry.register({ url: 'link.mar' }), { code: 'KILN_SERVE_ARCHIVE_NOT_FOUND' });
  await assert.rejects(registry.register({ url: outside }), { code: 'KILN_SERVE_ARCHIVE_NOT_FOUND' });
  for (const url of ['http://127.0.0.1:9/x.mar', 'file:///etc/passwd']) {
    await assert.rejects(registry.register({ url }), { code: 'KILN_SERVE_URL_NOT_ALLOWED', message: `Given URL ${url} does not match any allowed URL(s)` });
  }
  rmSync(outside, { recursive: true, force: true });
});

test('dynamic batching: concurrent requests arrive as one batch of up to batchSize', async () => {
  await registry.register({ url: 'batcher.mar' });
  const responses = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((text) => registry.predict('batcher', undefined, body(text))));
  const sizes = responses.map((response) => json(response).batchSize);
  assert.deepEqual(sizes, [4, 4, 4, 4, 1], `batch sizes ${sizes}`);
  assert.deepEqual(responses.map((response) => json(response).input.body.text), ['a', 'b', 'c', 'd', 'e']);
});

test('a worker that exceeds responseTimeout fails its batch with "Worker died." and is replaced', async () => {
  await registry.register({ url: 'slow.mar', initialWorkers: 1 });
  await assert.rejects(registry.predict('slow', undefined, body('sleep:3000')), { code: 'KILN_SERVE_WORKER_DIED', message: 'Worker died.' });
  // Back-off 0 s for the first restart: the replacement serves the next request.
  const deadline = Date.now() + 10_000;
  while (registry.version('slow').readyWorkers === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(json(await registry.predict('slow', undefined, body('ok'))).input.body.text, 'ok');
});

test('snapshots list every version with its settings and default, atomically on disk', () => {
  const snapshot = takeSnapshot(registry, 'snapshot');
  assert.equal(snapshot.models['noop']!['2.0']!.defaultVersion, true);
  assert.equal(snapshot.models['batcher']!['1.0']!.batchSize, 4);
  assert.equal(snapshot.modelCount, 3);
  const dir = join(store, 'config');
  const first = writeSnapshot(dir, 'snapshot', new Map([['model_store', store]]), snapshot, new Date(2026, 0, 2, 3, 4, 5, 6));
  const second = writeSnapshot(dir, 'snapshot', new Map(), snapshot, new Date(2026, 0, 2, 3, 4, 5, 6));
  assert.ok(first.endsWith('20260102030405006-snapshot.cfg'));
  assert.ok(second.endsWith('20260102030405007-snapshot.cfg'));
  const written = parseProperties(readFileSync(first, 'utf8'));
  assert.equal(written.get('model_store'), store);
  assert.deepEqual(JSON.parse(written.get('model_snapshot')!), snapshot);
  assert.ok(changes.length >= 5);
});

test('a worker thread that crashes between batches is replaced, and its model still serves and unregisters', async () => {
  await registry.register({ url: 'a.mar', initialWorkers: 1 });
  const before = registry.describe('a')[0]!.workers[0]!.id;
  assert.equal(json(await registry.predict('a', undefined, body('crash-later'))).input.body.text, 'crash-later');
  const deadline = Date.now() + 15_000;
  let served: string | undefined;
  while (Date.now() < deadline && served === undefined) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    try {
      served = json(await registry.predict('a', undefined, body('after'))).input.body.text;
    } catch {
      // between the crash and the replacement: 503 or "Worker died."
    }
  }
  assert.equal(served, 'after');
  const after = registry.describe('a')[0]!.workers.map((worker) => worker.id);
  assert.equal(after.length, 1);
  assert.notEqual(after[0], before, 'a new worker replaced the crashed one');
  await registry.unregister('a');
});

test('scaling to 0 answers the requests still queued with 503 instead of leaving them waiting', async () => {
  await registry.register({ url: 'b.mar', initialWorkers: 1 });
  const busy = registry.predict('b', undefined, body('sleep:500'));
  const queued = [1, 2, 3].map(() => registry.predict('b', undefined, body('x')).then(() => 'answered', (error: { code?: string }) => error.code));
  await new Promise((resolve) => setTimeout(resolve, 50));
  await registry.scale('b', undefined, 0, 0, true);
  assert.equal(json(await busy).input.body.text, 'sleep:500', 'the running batch finishes');
  assert.deepEqual(await Promise.all(queued), ['KILN_SERVE_NO_WORKER', 'KILN_SERVE_NO_WORKER', 'KILN_SERVE_NO_WORKER']);
  await registry.unregister('b');
});
