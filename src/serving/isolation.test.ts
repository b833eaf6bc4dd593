import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createManifest } from '../archive/manifest.js';
import type { OpenedArchive } from '../archive/read.js';
import { KilnError } from '../core/errors.js';
import { resolveIsolation } from './isolation.js';

function archive(handler: string, section?: unknown): OpenedArchive {
  return {
    source: 'x.mar',
    format: 'zip',
    dir: '/nonexistent',
    files: [],
    manifest: createManifest({ modelName: 'm', modelVersion: '1.0', handler }),
    modelConfig: { server: {}, handler: section === undefined ? {} : { handler: section } },
    modelPath: undefined,
    remove: async () => undefined,
  };
}

const auto = { mode: 'auto', maxMemoryMiB: 4096 } as const;

test('auto: a user handler file runs in a process, a built-in handler in a thread', () => {
  assert.deepEqual(resolveIsolation(archive('handler.cjs'), auto), { mode: 'process', maxMemoryMiB: 4096 });
  for (const builtin of ['image_classifier', 'ocr', 'tensor']) assert.equal(resolveIsolation(archive(builtin), auto).mode, 'thread');
});

test('a server-wide mode applies to every archive', () => {
  assert.equal(resolveIsolation(archive('tensor'), { mode: 'process', maxMemoryMiB: 512 }).mode, 'process');
  assert.equal(resolveIsolation(archive('handler.cjs'), { mode: 'thread', maxMemoryMiB: 512 }).mode, 'thread');
});

test("the archive's handler.isolation and handler.maxMemoryMiB win over the server's", () => {
  assert.deepEqual(resolveIsolation(archive('tensor', { isolation: 'process', maxMemoryMiB: 256, threads: 1 }), auto), { mode: 'process', maxMemoryMiB: 256 });
  assert.equal(resolveIsolation(archive('handler.cjs', { isolation: 'thread' }), { mode: 'process', maxMemoryMiB: 1 }).mode, 'thread');
});

for (const [section, message] of [
  [{ isolation: 'vm' }, /^model-config\.yaml: handler\.isolation: must be process or thread$/],
  [{ maxMemoryMiB: 10 }, /handler\.maxMemoryMiB: must be at least 64/],
  [{ maxMemoryMiB: 2 ** 21 }, /handler\.maxMemoryMiB: must be at most 1048576/],
  [{ maxMemoryMiB: 100.5 }, /handler\.maxMemoryMiB: must be a whole number/],
  [{ maxMemoryMiB: '1G' }, /handler\.maxMemoryMiB: must be a number of MiB/],
] as const) {
  test(`handler: ${JSON.stringify(section)} is refused`, () => {
    assert.throws(() => resolveIsolation(archive('tensor', section), auto), (error: unknown) => {
      assert.ok(error instanceof KilnError);
      assert.equal(error.code, 'KILN_ARCHIVE_MODEL_CONFIG_INVALID');
      assert.match(error.message, message);
      return true;
    });
  });
}
