import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openArchive } from '../archive/read.js';
import { writeArchive, type ArchiveEntry } from '../archive/write.js';
import { silentLogger } from '../core/log.js';
import { initializeArchiveHandler } from './from-archive.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-from-archive-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A handler that remembers each body it was sent and refuses 'bad'; a 'seen?' request answers with the list. */
const RECORDING_HANDLER = `
const seen = [];
module.exports = {
  initialize() {},
  handle(requests) {
    return requests.map((request) => {
      const body = Buffer.from(request.body).toString('utf8');
      if (body === 'bad') throw new Error('cannot read this input');
      if (body === 'seen?') return seen.slice();
      seen.push(body);
      return 'ok';
    });
  },
};`;

async function archiveWith(name: string, config: string | undefined, sample = 'warm body'): Promise<string> {
  const bytes = (text: string) => ({ bytes: new TextEncoder().encode(text) });
  const entries: ArchiveEntry[] = [
    { name: 'handler.cjs', source: bytes(RECORDING_HANDLER) },
    { name: 'sample.txt', source: bytes(sample) },
  ];
  if (config) entries.push({ name: 'model-config.yaml', source: bytes(config) });
  const written = await writeArchive({
    modelName: name,
    modelVersion: '1.0',
    handler: 'handler.cjs',
    ...(config ? { configFile: 'model-config.yaml' } : {}),
    entries,
    exportPath: dir,
    format: 'no-archive',
    force: true,
  });
  return written.path;
}

async function seenAfterInitialize(path: string): Promise<unknown> {
  const ready = await initializeArchiveHandler(await openArchive(path), { logger: silentLogger() });
  const { BatchContext } = await import('./context.js');
  const [answer] = await ready.handler.handle([{ body: new TextEncoder().encode('seen?') }], new BatchContext(ready.model, [{}]));
  return answer;
}

test('handler.warmup sends the named file through the handler once, before initialize resolves', async () => {
  assert.deepEqual(await seenAfterInitialize(await archiveWith('warm', 'handler:\n  warmup: sample.txt\n')), ['warm body']);
});

test('without handler.warmup nothing is sent (the default, as in TorchServe)', async () => {
  assert.deepEqual(await seenAfterInitialize(await archiveWith('cold', undefined)), []);
});

for (const [what, config, sample, message] of [
  ['a file the archive lacks', 'handler:\n  warmup: missing.jpg\n', 'x', /handler\.warmup must name a file of the archive/],
  ['a path out of the archive', 'handler:\n  warmup: ../../etc/passwd\n', 'x', /handler\.warmup must name a file of the archive/],
  ['an input the handler refuses', 'handler:\n  warmup: sample.txt\n', 'bad', /the warm-up request \(sample\.txt\) failed: .*cannot read this input/],
] as const) {
  test(`handler.warmup naming ${what} fails the load with KILN_HANDLER_LOAD_FAILED`, async () => {
    const path = await archiveWith(`bad-${what.length}`, config, sample);
    await assert.rejects(initializeArchiveHandler(await openArchive(path), { logger: silentLogger() }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'KILN_HANDLER_LOAD_FAILED');
      assert.match(error.message, message);
      return true;
    });
  });
}
