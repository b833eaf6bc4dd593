import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ZipFile } from 'yazl';
import { EXTRACT_TEMP_PREFIX } from './extract.js';
import { openArchive } from './read.js';

// A private TMPDIR, so counting leftover extraction folders sees only this file's.
const work = mkdtempSync(join(tmpdir(), 'kiln-read-test-'));
const privateTmp = join(work, 'tmp');
let savedTmp: string | undefined;
before(() => {
  mkdirSync(privateTmp);
  savedTmp = process.env['TMPDIR'];
  process.env['TMPDIR'] = privateTmp;
});
after(() => {
  if (savedTmp === undefined) delete process.env['TMPDIR'];
  else process.env['TMPDIR'] = savedTmp;
  rmSync(work, { recursive: true, force: true });
});

/** An ONNX-looking file: protobuf field 1 (ir_version) first. */
const ONNX_BYTES = Buffer.from([0x08, 0x08, 0x12, 0x04, 0x6b, 0x69, 0x6c, 0x6e]);

async function zip(name: string, files: Record<string, string | Buffer>): Promise<string> {
  const archive = new ZipFile();
  for (const [entry, content] of Object.entries(files)) archive.addBuffer(Buffer.from(content), entry);
  archive.end();
  const chunks: Buffer[] = [];
  for await (const chunk of archive.outputStream) chunks.push(chunk as Buffer);
  const path = join(work, name);
  writeFileSync(path, Buffer.concat(chunks));
  return path;
}

function manifest(model: Record<string, unknown>, runtime: unknown = 'typescript'): string {
  return JSON.stringify({ runtime, model: { modelName: 'm', modelVersion: '1.0', handler: 'tensor', ...model } });
}

function leftovers(): string[] {
  return readdirSync(privateTmp).filter((name) => name.startsWith(EXTRACT_TEMP_PREFIX));
}

test('a valid archive opens with its manifest, config and model path', async () => {
  const path = await zip('ok.mar', {
    'MAR-INF/MANIFEST.json': manifest({ serializedFile: 'model.onnx', configFile: 'model-config.yaml' }),
    'model.onnx': ONNX_BYTES,
    'model-config.yaml': 'batchSize: 4\nhandler:\n  topk: 1\n',
  });
  const archive = await openArchive(path);
  assert.equal(archive.manifest.model.modelName, 'm');
  assert.deepEqual(archive.modelConfig.server, { batchSize: 4 });
  assert.deepEqual(archive.modelConfig.handler, { handler: { topk: 1 } });
  assert.equal(archive.modelPath, join(archive.dir, 'model.onnx'));
  assert.equal(leftovers().length, 1);
  await archive.remove();
  assert.deepEqual(leftovers(), []);
});

for (const [name, files, code, pattern] of [
  ['no manifest', { 'model.onnx': ONNX_BYTES }, 'KILN_ARCHIVE_MANIFEST_INVALID', /not a model archive \(no MAR-INF\/MANIFEST\.json\)/],
  ['a manifest with wrong types', { 'MAR-INF/MANIFEST.json': JSON.stringify({ runtime: 'typescript', model: { modelName: ['m'], modelVersion: 1, handler: 'tensor' } }) }, 'KILN_ARCHIVE_MANIFEST_INVALID', /model\.modelName: /],
  ['an unknown runtime', { 'MAR-INF/MANIFEST.json': manifest({}, 'LSP') }, 'KILN_ARCHIVE_MANIFEST_INVALID', /Runtime is not defined or invalid: 'LSP'/],
  ['a missing serialized file', { 'MAR-INF/MANIFEST.json': manifest({ serializedFile: 'model.onnx' }) }, 'KILN_ARCHIVE_MODEL_INVALID', /serialized file 'model\.onnx', which is not in the archive/],
  ['a serialized file outside the archive', { 'MAR-INF/MANIFEST.json': manifest({ serializedFile: '../../../../etc/hostname' }) }, 'KILN_ARCHIVE_MODEL_INVALID', /serialized file '\.\.\/\.\.\/\.\.\/\.\.\/etc\/hostname' points outside the archive/],
  ['an absolute serialized file', { 'MAR-INF/MANIFEST.json': manifest({ serializedFile: '/etc/hostname' }) }, 'KILN_ARCHIVE_MODEL_INVALID', /points outside the archive/],
  ['a config file outside the archive', { 'MAR-INF/MANIFEST.json': manifest({ configFile: '../../etc/hostname' }) }, 'KILN_ARCHIVE_MODEL_CONFIG_INVALID', /config file '\.\.\/\.\.\/etc\/hostname' points outside the archive/],
  ['a config file with a code tag', { 'MAR-INF/MANIFEST.json': manifest({ configFile: 'c.yaml' }), 'c.yaml': 'x: !!js/function "function(){}"\n' }, 'KILN_ARCHIVE_MODEL_CONFIG_INVALID', /not plain YAML data/],
  ['a TorchServe-only built-in handler', { 'MAR-INF/MANIFEST.json': manifest({ handler: 'object_detector' }, 'python') }, 'KILN_ARCHIVE_UNSUPPORTED', /TorchServe's built-in handler 'object_detector', which kiln does not have/],
  ['a serialized file that is a pickle', { 'MAR-INF/MANIFEST.json': manifest({ serializedFile: 'model.onnx' }), 'model.onnx': Buffer.from([0x80, 0x02, 0x7d]) }, 'KILN_ARCHIVE_MODEL_INVALID', /is not an ONNX model \(it is a Python pickle\)/],
] as const) {
  test(`${name} → ${code}, and the extracted files are removed`, async () => {
    const path = await zip(`${name.replace(/\W+/g, '-')}.mar`, files as Record<string, string | Buffer>);
    await assert.rejects(openArchive(path), (error: Error & { code?: string }) => {
      assert.equal(error.code, code);
      assert.ok(error.message.startsWith(path), error.message);
      assert.match(error.message, pattern);
      return true;
    });
    assert.deepEqual(leftovers(), []);
  });
}

test('a directory archive whose manifest points at a sibling file outside it is refused', async () => {
  const dir = join(work, 'folder-archive');
  mkdirSync(join(dir, 'MAR-INF'), { recursive: true });
  writeFileSync(join(work, 'secret.onnx'), ONNX_BYTES);
  writeFileSync(join(dir, 'MAR-INF', 'MANIFEST.json'), manifest({ serializedFile: '../secret.onnx' }));
  await assert.rejects(openArchive(dir), { code: 'KILN_ARCHIVE_MODEL_INVALID' });
});
