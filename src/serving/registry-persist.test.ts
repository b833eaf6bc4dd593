/**
 * Durable management in the registry: each change calls `persist` before it is acknowledged,
 * a snapshot holds only acknowledged state, and a change that cannot be persisted is undone.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeNoopArchive } from '../../test/fixtures/archives.js';
import { KilnError } from '../core/errors.js';
import { silentLogger } from '../core/log.js';
import { ModelRegistry } from './registry.js';
import { SERVING_DEFAULTS } from './settings.js';
import { takeSnapshot, type ModelSnapshot } from './snapshot.js';

const store = mkdtempSync(join(tmpdir(), 'kiln-persist-'));
let registry: ModelRegistry;
/** What each persist call would have written; `failing` makes the next calls throw as a full disk does. */
const written: ModelSnapshot[] = [];
let failing = false;

const enospc = () =>
  new KilnError('KILN_IO_WRITE_FAILED', '/logs/config/x.cfg: cannot write (no space left on device)', {
    cause: Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }),
  });

before(async () => {
  await writeNoopArchive(store);
  await writeNoopArchive(join(store, 'v2'), { version: '2.0' });
  await writeNoopArchive(store, { name: 'other' });
  await writeNoopArchive(store, { name: 'slow', config: 'handler:\n  loadMs: 400\n' });
  registry = new ModelRegistry({
    store: { modelStore: store, allowedUrls: [] },
    defaults: { ...SERVING_DEFAULTS, workers: 0 },
    logger: silentLogger(),
    isolation: { mode: 'in-process', maxMemoryMiB: 4096 },
    persist: () => {
      if (failing) throw enospc();
      written.push(takeSnapshot(registry, 'snapshot'));
    },
  });
});
after(async () => {
  await registry.close();
  rmSync(store, { recursive: true, force: true });
});

const versionsIn = (snapshot: ModelSnapshot | undefined) =>
  Object.entries(snapshot?.models ?? {}).flatMap(([name, versions]) => Object.keys(versions).map((version) => `${name}:${version}`)).sort();

function refusedFor(undone: RegExp) {
  return (error: Error & { code?: string }) => {
    assert.equal(error.code, 'KILN_SERVE_SNAPSHOT_FAILED');
    assert.match(error.message, /^Cannot write the config snapshot: no space left on device; /);
    assert.match(error.message, undone);
    assert.doesNotMatch(error.message, /\/logs\//, 'no server path in what the client sees');
    return true;
  };
}

test('a registration is persisted once, with itself in the snapshot, before it resolves', async () => {
  await registry.register({ url: 'noop.mar', initialWorkers: 1 });
  assert.equal(written.length, 1);
  assert.deepEqual(versionsIn(written[0]), ['noop:1.0']);
  assert.equal(written[0]!.models['noop']!['1.0']!.minWorkers, 1);
});

test('a registration that cannot be persisted is rolled back', async () => {
  failing = true;
  await assert.rejects(registry.register({ url: 'other.mar', initialWorkers: 1 }), refusedFor(/the registration was rolled back\.$/));
  failing = false;
  assert.throws(() => registry.version('other'), { code: 'KILN_SERVE_MODEL_NOT_FOUND' });
  // A 202 registration is persisted before it is answered too.
  await assert.rejects(
    (async () => {
      failing = true;
      try {
        return await registry.register({ url: 'other.mar', initialWorkers: 1, synchronous: false });
      } finally {
        failing = false;
      }
    })(),
    refusedFor(/rolled back/),
  );
  assert.throws(() => registry.version('other'), { code: 'KILN_SERVE_MODEL_NOT_FOUND' });
  // And it can be registered once the disk has room again.
  await registry.register({ url: 'other.mar' });
  assert.deepEqual(versionsIn(written.at(-1)), ['noop:1.0', 'other:1.0']);
});

test('a version whose workers are still starting is not in snapshots taken meanwhile', async () => {
  let settled = false;
  const registering = registry.register({ url: 'slow.mar', initialWorkers: 1 }).finally(() => (settled = true));
  while (![...registry.entries()].some(({ name }) => name === 'slow')) await new Promise((resolve) => setTimeout(resolve, 5));
  // Another change persists while `slow` loads (400 ms): its snapshot must not promise `slow`.
  await registry.scale('other', undefined, 0, 0, true);
  assert.equal(settled, false, 'the registration was still loading its worker');
  assert.deepEqual(versionsIn(written.at(-1)), ['noop:1.0', 'other:1.0']);
  await registering;
  assert.deepEqual(versionsIn(written.at(-1)), ['noop:1.0', 'other:1.0', 'slow:1.0']);
  await registry.unregister('slow');
  await registry.register({ url: 'v2/noop.mar' });
});

test('scaling writes the new counts before any worker changes; if it cannot, nothing changes', async () => {
  const before = registry.version('noop', '1.0');
  await registry.scale('noop', '1.0', 2, 3, true);
  assert.deepEqual([written.at(-1)!.models['noop']!['1.0']!.minWorkers, written.at(-1)!.models['noop']!['1.0']!.maxWorkers], [2, 3]);
  assert.equal(before.liveWorkers, 2);
  failing = true;
  await assert.rejects(registry.scale('noop', '1.0', 0, 0, true), refusedFor(/the workers were not scaled\.$/));
  failing = false;
  assert.equal(before.settings.minWorkers, 2);
  assert.equal(before.liveWorkers, 2);
});

test('set-default that cannot be persisted keeps the old default', async () => {
  failing = true;
  assert.throws(() => registry.setDefault('noop', '2.0'), refusedFor(/the default version was not changed\.$/));
  failing = false;
  assert.equal(registry.version('noop').version, '1.0');
  registry.setDefault('noop', '2.0');
  assert.equal(written.at(-1)!.models['noop']!['2.0']!.defaultVersion, true);
  assert.equal(written.at(-1)!.models['noop']!['1.0']!.defaultVersion, false);
});

test('unregister writes the snapshot without the version first, and removes nothing if it cannot', async () => {
  failing = true;
  await assert.rejects(registry.unregister('noop', '1.0'), refusedFor(/nothing was unregistered\.$/));
  failing = false;
  assert.equal(registry.version('noop', '1.0').liveWorkers, 2);
  const count = written.length;
  await registry.unregister('noop', '1.0');
  assert.equal(written.length, count + 1);
  assert.deepEqual(versionsIn(written.at(-1)), ['noop:2.0', 'other:1.0']);
  assert.throws(() => registry.version('noop', '1.0'), { code: 'KILN_SERVE_VERSION_NOT_FOUND' });
});
