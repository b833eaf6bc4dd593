import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import yauzl from 'yauzl';
import { extractArchive } from './extract.js';
import { writeArchive } from './write.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-write-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Compression method (0 store, 8 deflate) of each entry of a zip, by name. */
async function methods(path: string): Promise<Record<string, number>> {
  const zip = await yauzl.openPromise(path, { lazyEntries: true });
  const found: Record<string, number> = {};
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      found[entry.fileName] = entry.compressionMethod;
      zip.readEntry();
    });
    zip.once('end', resolve);
    zip.once('error', reject);
    zip.readEntry();
  });
  zip.close();
  return found;
}

test('a .mar deflates what shrinks and stores what barely does (float weights); both extract byte for byte', async () => {
  // Pseudo-random bytes do not deflate, like trained float weights; a label list deflates well.
  let state = 1;
  const weights = Uint8Array.from({ length: 5 * 1024 * 1024 }, () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 24));
  const text = new TextEncoder().encode(Array.from({ length: 20_000 }, (_, index) => `label ${index}`).join('\n'));
  writeFileSync(join(dir, 'weights.bin'), weights);
  const written = await writeArchive({
    modelName: 'm',
    modelVersion: '1.0',
    handler: 'tensor',
    entries: [
      { name: 'weights.bin', source: { path: join(dir, 'weights.bin') } },
      { name: 'labels.txt', source: { bytes: text } },
    ],
    exportPath: dir,
    format: 'default',
    force: true,
  });
  assert.deepEqual(await methods(written.path), { 'MAR-INF/MANIFEST.json': 8, 'weights.bin': 0, 'labels.txt': 8 });
  const extracted = await extractArchive(written.path);
  try {
    assert.deepEqual(new Uint8Array(readFileSync(join(extracted.dir, 'weights.bin'))), weights);
    assert.deepEqual(new Uint8Array(readFileSync(join(extracted.dir, 'labels.txt'))), text);
  } finally {
    await extracted.remove();
  }
});
