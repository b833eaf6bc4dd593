/**
 * Checklist items 23-27 (startup models, token auth) and acceptance item 2 of issue 6: the
 * seed's two curl commands on the PP-OCR classifier and OCR archives.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { writeArchive } from '../../../src/archive/write.js';
import { CLS_LABELS, CLS_MODEL_CONFIG, renderDemoPage } from '../../../src/cli/demo-assets.js';
import { ppOcrAssetsDir } from '../../../src/cli/default-models.js';
import { writeNoopArchive } from '../../fixtures/archives.js';
import { call, startServer } from './harness.js';

const ASSETS = ppOcrAssetsDir();
const text = (value: string) => new TextEncoder().encode(value);

describe('startup models', () => {
  test('23: /invocations without model_name and two startup models → 400; with model_name → 200', async () => {
    const store = mkdtempSync(join(tmpdir(), 'kiln-startup-'));
    await writeNoopArchive(store);
    await writeNoopArchive(store, { name: 'a' });
    const server = await startServer({ store, properties: ['load_models=noop.mar,other=a.mar'] });
    try {
      const listed = await call(`${server.management}/models`);
      assert.deepEqual(listed.body.models.map((m: { modelName: string }) => m.modelName), ['noop', 'other']);
      const missing = await call(`${server.inference}/invocations`, { method: 'POST', body: text('x') });
      assert.deepEqual([missing.status, missing.body.message], [400, 'Parameter model_name is required.']);
      const named = await call(`${server.inference}/invocations?model_name=other`, { method: 'POST', body: text('x') });
      assert.equal(named.status, 200);
      assert.equal(named.body.model, 'other:1.0');
      // Query parameters reach the handler on /invocations.
      assert.equal(named.body.input.model_name, 'other');
    } finally {
      await server.stop();
      rmSync(store, { recursive: true, force: true });
    }
  });
});

describe('token authorization', () => {
  test('24-27: keys from key_file.json guard inference and management; health and metrics need none; /token rotates', async () => {
    const server = await startServer({ properties: ['disable_token_authorization=false'] });
    try {
      await writeNoopArchive(server.store, { name: 'tokenizer' });
      const keyFile = join(server.root, 'key_file.json');
      assert.equal(statSync(keyFile).mode & 0o777, 0o600);
      const keys = JSON.parse(readFileSync(keyFile, 'utf8'));
      assert.match(keys.inference.key, /^[A-Za-z0-9_-]{8}$/);
      const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
      const failed = { code: 400, type: 'InvalidKeyException', message: 'Token Authorization failed. Token either incorrect, expired, or not provided correctly' };
      // 27: a model named tokenizer is registered, described and scaled with the management key.
      const registered = await call(`${server.management}/models?url=tokenizer.mar&initial_workers=1`, { method: 'POST', headers: bearer(keys.management.key) });
      assert.equal(registered.status, 200, registered.text);
      assert.equal((await call(`${server.management}/models/tokenizer`, { headers: bearer(keys.management.key) })).status, 200);
      assert.equal((await call(`${server.management}/models/tokenizer?min_worker=1&synchronous=true`, { method: 'PUT', headers: bearer(keys.management.key) })).status, 200);
      // 24: wrong or missing token → 400; the inference key → 200.
      assert.deepEqual((await call(`${server.inference}/predictions/tokenizer`, { method: 'POST', body: text('x') })).body, failed);
      assert.deepEqual((await call(`${server.inference}/predictions/tokenizer`, { method: 'POST', body: text('x'), headers: bearer(keys.management.key) })).body, failed);
      assert.equal((await call(`${server.inference}/predictions/tokenizer`, { method: 'POST', body: text('x'), headers: bearer(keys.inference.key) })).status, 200);
      assert.deepEqual((await call(`${server.management}/models`)).body, failed);
      // 25: health, API description and metrics without a token.
      assert.equal((await call(`${server.inference}/ping`)).status, 200);
      assert.equal((await call(`${server.inference}/`, { method: 'OPTIONS' })).status, 200);
      assert.equal((await call(`${server.metrics}/metrics`)).status, 200);
      // The key a request needs is its route's, resolved as the router resolves it: `/ping/` is
      // /ping (no token), `/%70ing` too; an unknown path needs the key (a client without one
      // learns nothing of the route table), and an unknown /v2 path answers in OIP's body.
      assert.equal((await call(`${server.inference}/ping/`)).status, 200);
      assert.equal((await call(`${server.inference}/%70ing`)).status, 200);
      assert.deepEqual((await call(`${server.inference}/no-such-route`)).body, failed);
      assert.equal((await call(`${server.inference}/no-such-route`, { headers: bearer(keys.inference.key) })).status, 404);
      assert.deepEqual((await call(`${server.inference}/v2/no-such-route`)).body, { error: failed.message });
      // OIP v2 (oip-v2.md §2, §12): its health routes need no token (Kubernetes probes); the rest
      // needs the inference key, and refuses with the OIP error body.
      assert.deepEqual((await call(`${server.inference}/v2/health/live`)).body, { live: true });
      assert.equal((await call(`${server.inference}/v2/health/ready`)).status, 200);
      const oipRefused = await call(`${server.inference}/v2/models/tokenizer`);
      assert.equal(oipRefused.status, 400);
      assert.deepEqual(oipRefused.body, { error: failed.message });
      assert.equal((await call(`${server.inference}/v2/models/tokenizer`, { headers: bearer(keys.inference.key) })).status, 200);
      // 26: /token?type=inference with the API key → 200 "\n"; the old inference key stops working.
      const rotated = await call(`${server.management}/token?type=inference`, { headers: bearer(keys.API.key) });
      assert.deepEqual([rotated.status, rotated.text], [200, '\n']);
      assert.deepEqual((await call(`${server.inference}/predictions/tokenizer`, { method: 'POST', body: text('x'), headers: bearer(keys.inference.key) })).body, failed);
      const renewed = JSON.parse(readFileSync(keyFile, 'utf8'));
      assert.notEqual(renewed.inference.key, keys.inference.key);
      assert.equal((await call(`${server.inference}/predictions/tokenizer`, { method: 'POST', body: text('x'), headers: bearer(renewed.inference.key) })).status, 200);
      assert.deepEqual((await call(`${server.management}/token?type=inference`, { headers: bearer(keys.management.key) })).body, failed);
    } finally {
      const root = server.root;
      await server.stop();
      assert.equal(existsSync(join(root, 'key_file.json')), false, 'the key file is deleted on stop');
    }
  });
});

describe("the seed's curl commands", () => {
  test('register ppocr-cls.mar and ocr.mar with initial_workers=1, then -T an image → labels and text; a corrupt image → 400', async () => {
    const server = await startServer();
    try {
      await writeArchive({
        modelName: 'ppocr-cls',
        modelVersion: '1.0',
        handler: 'image_classifier',
        serializedFile: 'ch_ppocr_mobile_v2.0_cls_infer.onnx',
        configFile: 'model-config.yaml',
        entries: [
          { name: 'ch_ppocr_mobile_v2.0_cls_infer.onnx', source: { path: join(ASSETS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx') } },
          { name: 'model-config.yaml', source: { bytes: text(CLS_MODEL_CONFIG) } },
          { name: 'index_to_name.json', source: { bytes: text(CLS_LABELS) } },
        ],
        exportPath: server.store,
        format: 'default',
        force: true,
      });
      await writeArchive({
        modelName: 'ocr',
        modelVersion: '1.0',
        handler: 'ocr',
        serializedFile: 'ch_PP-OCRv4_det_infer.onnx',
        entries: ['ch_PP-OCRv4_det_infer.onnx', 'ch_ppocr_mobile_v2.0_cls_infer.onnx', 'ch_PP-OCRv4_rec_infer.onnx', 'ppocr_keys_v1.txt'].map((name) => ({ name, source: { path: join(ASSETS, name) } })),
        exportPath: server.store,
        format: 'default',
        force: true,
      });
      // curl -X POST "http://localhost:8081/models?url=NAME.mar&initial_workers=1"
      for (const name of ['ppocr-cls', 'ocr']) {
        const registered = await call(`${server.management}/models?url=${name}.mar&initial_workers=1`, { method: 'POST' });
        assert.deepEqual([registered.status, registered.body], [200, { status: `Model "${name}" Version: 1.0 registered with 1 initial workers` }]);
      }
      // curl http://localhost:8080/predictions/NAME -T image.png (curl -T sends PUT)
      const flipped = await renderDemoPage(['kiln serves models'], { rotate180: true });
      const labels = await call(`${server.inference}/predictions/ppocr-cls`, { method: 'PUT', body: flipped });
      assert.equal(labels.status, 200);
      assert.deepEqual(Object.keys(labels.body), ['upside-down', 'upright']);
      const page = await renderDemoPage(['invoice 2026-11', 'total: 1,250.40']);
      const ocr = await call(`${server.inference}/predictions/ocr`, { method: 'PUT', body: page });
      assert.equal(ocr.status, 200);
      assert.equal(ocr.body.text, 'invoice 2026-11\ntotal: 1,250.40');
      const corrupt = await call(`${server.inference}/predictions/ppocr-cls`, { method: 'PUT', body: page.subarray(0, 100) });
      assert.equal(corrupt.status, 400);
      assert.equal(corrupt.body.type, 'BadRequestException');
      assert.match(corrupt.body.message, /^request 0 is not an image kiln can decode/);
      // The server keeps serving.
      assert.equal((await call(`${server.inference}/predictions/ppocr-cls`, { method: 'PUT', body: flipped })).status, 200);
      const badParam = await call(`${server.management}/models/ocr?min_worker=two`, { method: 'PUT' });
      assert.deepEqual([badParam.status, badParam.body.type], [400, 'BadRequestException']);
    } finally {
      await server.stop();
    }
  });
});
