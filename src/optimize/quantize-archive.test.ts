import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isArchivePath, quantizeArchive } from './quantize-archive.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-quantize-archive-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const mode = { kind: 'dynamic', perChannel: true, excludeNodes: [] } as const;

test('isArchivePath: archive names and folders with a manifest, not models or plain folders', () => {
  mkdirSync(join(dir, 'folder-archive', 'MAR-INF'), { recursive: true });
  writeFileSync(join(dir, 'folder-archive', 'MAR-INF', 'MANIFEST.json'), '{}');
  mkdirSync(join(dir, 'plain'));
  for (const path of ['m.mar', 'm.MAR', 'm.tar.gz', 'm.tgz', join(dir, 'folder-archive')]) assert.ok(isArchivePath(path), path);
  for (const path of ['m.onnx', join(dir, 'plain'), join(dir, 'missing')]) assert.ok(!isArchivePath(path), path);
});

test('quantizeArchive refuses an output that is not a .mar, and an existing one without force, before opening anything', async () => {
  await assert.rejects(quantizeArchive(join(dir, 'missing.mar'), { mode, output: join(dir, 'out.onnx') }), { code: 'KILN_CORE_INVALID_ARGUMENT', message: /written as a \.mar/ });
  writeFileSync(join(dir, 'exists.mar'), 'x');
  await assert.rejects(quantizeArchive(join(dir, 'missing.mar'), { mode, output: join(dir, 'exists.mar') }), { code: 'KILN_IO_OUTPUT_EXISTS' });
  // With force the archive itself is read next: a missing one is its own error.
  await assert.rejects(quantizeArchive(join(dir, 'missing.mar'), { mode, output: join(dir, 'exists.mar'), force: true }), { code: 'KILN_IO_NOT_FOUND' });
});
