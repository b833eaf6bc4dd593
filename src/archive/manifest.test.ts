import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createManifest, encodeManifest, formatCreatedOn, KILN_RUNTIME, parseManifest } from './manifest.js';

test('createManifest writes TorchServe fields, omits absent optional keys and formats createdOn as %d/%m/%Y %H:%M:%S', () => {
  const manifest = createManifest({
    modelName: 'ppocr-cls',
    modelVersion: '1.0',
    handler: 'image_classifier',
    serializedFile: 'cls.onnx',
    createdOn: new Date(2020, 6, 28, 6, 32, 8),
  });
  assert.deepEqual(JSON.parse(encodeManifest(manifest)), {
    createdOn: '28/07/2020 06:32:08',
    runtime: KILN_RUNTIME,
    model: { modelName: 'ppocr-cls', serializedFile: 'cls.onnx', handler: 'image_classifier', modelVersion: '1.0' },
    archiverVersion: '0.1.0',
  });
  assert.ok(!('configFile' in manifest.model));
  assert.equal(formatCreatedOn(new Date(2021, 0, 2, 3, 4, 5)), '02/01/2021 03:04:05');
});

test('parseManifest accepts a torch-model-archiver manifest and keeps unknown fields', () => {
  const text = JSON.stringify({
    createdOn: '28/07/2020 06:32:08',
    runtime: 'python',
    model: { modelName: 'densenet161', serializedFile: 'densenet161-8d451a50.pth', handler: 'image_classifier', modelVersion: '1.0', future: 1 },
    archiverVersion: '0.2.0',
  });
  const manifest = parseManifest(text, 'densenet.mar');
  assert.equal(manifest.model.modelName, 'densenet161');
  assert.equal((manifest.model as Record<string, unknown>)['future'], 1);
  assert.ok(Object.isFrozen(manifest.model));
});

for (const [name, text, pattern] of [
  ['not JSON', '{"runtime": ', /MANIFEST\.json is not valid JSON/],
  ['no model', '{"runtime": "python"}', /model: /],
  ['modelName a number', JSON.stringify({ runtime: 'x', model: { modelName: 5, modelVersion: '1', handler: 'h' } }), /model\.modelName: /],
  ['bad model name', JSON.stringify({ runtime: 'x', model: { modelName: '../x', modelVersion: '1', handler: 'h' } }), /model\.modelName: model name '\.\.\/x' is not allowed/],
  ['a 200-character model name', JSON.stringify({ runtime: 'x', model: { modelName: 'a'.repeat(200), modelVersion: '1', handler: 'h' } }), /model\.modelName: model name is 200 characters long; the limit is 128/],
  ['a path as version', JSON.stringify({ runtime: 'x', model: { modelName: 'a', modelVersion: '../../../tmp/x', handler: 'h' } }), /model\.modelVersion: model version '\.\.\/\.\.\/\.\.\/tmp\/x' is not allowed/],
  ['a 100,000-character version', JSON.stringify({ runtime: 'x', model: { modelName: 'a', modelVersion: '1'.repeat(100_000), handler: 'h' } }), /model\.modelVersion: model version is 100000 characters long; the limit is 64$/],
  ['an empty version', JSON.stringify({ runtime: 'x', model: { modelName: 'a', modelVersion: '', handler: 'h' } }), /model\.modelVersion: model version '' is not allowed/],
  ['handler missing', JSON.stringify({ runtime: 'x', model: { modelName: 'a', modelVersion: '1' } }), /model\.handler: /],
] as const) {
  test(`parseManifest refuses ${name} with KILN_ARCHIVE_MANIFEST_INVALID`, () => {
    assert.throws(() => parseManifest(text, 'x.mar'), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'KILN_ARCHIVE_MANIFEST_INVALID');
      assert.match(error.message, /^x\.mar: /);
      assert.match(error.message, pattern);
      return true;
    });
  });
}

test('createManifest refuses a model name TorchServe would refuse', () => {
  assert.throws(() => createManifest({ modelName: '-bad', modelVersion: '1', handler: 'h' }), { code: 'KILN_ARCHIVE_NAME_INVALID' });
  assert.throws(() => createManifest({ modelName: 'a/b', modelVersion: '1', handler: 'h' }), { code: 'KILN_ARCHIVE_NAME_INVALID' });
});
