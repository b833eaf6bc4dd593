/**
 * Issue #11, acceptance 3: in a batch of 8 for the built-in image classifier, one corrupt image
 * and one request without bytes (`{"data": null}`) get their 400s, the six others their right
 * labels, all in one batch, and the worker is never replaced. Also over the `tensor` handler:
 * one malformed request among stacked ones fails alone.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeArchive } from '../../../src/archive/write.js';
import { bundleHandler, BUNDLED_HANDLER_FILE } from '../../../src/handlers/bundle.js';
import { ppOcrAssetsDir } from '../../../src/cli/default-models.js';
import { seededRandom } from '../../../src/core/random.js';
import { randomWords, renderLine } from '../../fixtures/render-text.js';
import { writeUnaryTensorArchive } from '../../fixtures/archives.js';
import { call, startServer, type ServerUnderTest } from './harness.js';

let server: ServerUnderTest;
const CLS = join(ppOcrAssetsDir(), 'ch_ppocr_mobile_v2.0_cls_infer.onnx');
// PP-OCR's orientation classifier as image_classifier (see docs/handlers.md); a batch of 8 waits
// up to 5 s to fill, so the eight concurrent requests below share one.
const CONFIG = 'batchSize: 8\nmaxBatchDelay: 5000\nhandler:\n  image:\n    size: [48, 192]\n    fit: pad\n    mean: [0.5, 0.5, 0.5]\n    std: [0.5, 0.5, 0.5]\n    channelOrder: BGR\n  topk: 2\n';

before(async () => {
  server = await startServer();
  const text = (value: string) => ({ bytes: new TextEncoder().encode(value) });
  await writeArchive({
    modelName: 'cls',
    modelVersion: '1.0',
    handler: 'image_classifier',
    serializedFile: 'cls.onnx',
    configFile: 'model-config.yaml',
    entries: [
      { name: 'cls.onnx', source: { bytes: readFileSync(CLS) } },
      { name: 'model-config.yaml', source: text(CONFIG) },
      { name: 'index_to_name.json', source: text(JSON.stringify({ 0: 'upright', 1: 'upside-down' })) },
    ],
    exportPath: server.store,
    format: 'default',
    force: true,
  });
  await writeUnaryTensorArchive(server.store, 'neg', 'Neg');
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

async function worker(model: string): Promise<{ id: string; pid: number; startTime: string }> {
  const described = await call(`${server.management}/models/${model}`);
  assert.equal(described.status, 200);
  const [only] = described.body[0].workers;
  return { id: only.id, pid: only.pid, startTime: only.startTime };
}

/** `kiln_batch_size` histogram count and sum for a model, from the metrics port. */
async function batches(model: string): Promise<{ count: number; sum: number }> {
  const text = (await call(`${server.metrics}/metrics`)).text;
  const read = (suffix: string) => Number(new RegExp(`^kiln_batch_size_${suffix}\\{[^}]*model_name="${model}"[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { count: read('count'), sum: read('sum') };
}

test('a batch of 8 with a corrupt image and {"data": null}: those two get 400, the six others 200 with the right labels, one worker throughout', async () => {
  assert.equal((await call(`${server.management}/models?url=cls.mar&initial_workers=1&synchronous=true`, { method: 'POST' })).status, 200);
  const before = await worker('cls');
  const random = seededRandom(11);
  const lines = await Promise.all(
    Array.from({ length: 6 }, (_, index) => renderLine({ text: randomWords(random, 2).join(' '), fontSize: 28, rotate180: index % 2 === 1 })),
  );
  const corrupt = lines[0]!.png.subarray(0, 200);
  const bodies: { body: Uint8Array | string; type?: string; expect: string | 400 }[] = [
    ...lines.slice(0, 3).map((line, index) => ({ body: line.png, expect: index % 2 === 1 ? 'upside-down' : 'upright' })),
    { body: corrupt, expect: 400 },
    { body: JSON.stringify({ data: null }), type: 'application/json', expect: 400 },
    ...lines.slice(3).map((line, index) => ({ body: line.png, expect: (index + 3) % 2 === 1 ? 'upside-down' : 'upright' })),
  ];
  const answers = await Promise.all(
    bodies.map(({ body, type }) => call(`${server.inference}/predictions/cls`, { method: 'POST', body, ...(type ? { headers: { 'content-type': type } } : {}) })),
  );
  answers.forEach((answer, index) => {
    const { expect } = bodies[index]!;
    if (expect === 400) {
      assert.equal(answer.status, 400, `request ${index}: ${answer.text}`);
      assert.deepEqual(Object.keys(answer.body).sort(), ['code', 'message', 'type']);
      assert.equal(answer.body.type, 'BadRequestException');
    } else {
      assert.equal(answer.status, 200, `request ${index}: ${answer.text}`);
      const best = Object.entries(answer.body as Record<string, number>).sort((a, b) => b[1] - a[1])[0]![0];
      assert.equal(best, expect, `request ${index}: ${answer.text}`);
    }
  });
  assert.match(answers[3]!.body.message, /not an image kiln can decode/);
  assert.match(answers[4]!.body.message, /expected image bytes in 'data' or 'body'/);
  assert.deepEqual(await batches('cls'), { count: 1, sum: 8 }, 'the eight requests ran as one batch');
  assert.deepEqual(await worker('cls'), before, 'the worker was not replaced');
  // And the worker still serves.
  const again = await call(`${server.inference}/predictions/cls`, { method: 'POST', body: lines[0]!.png });
  assert.equal(again.status, 200);
});

test('tensor handler: a malformed request batched with good ones fails alone', async () => {
  assert.equal((await call(`${server.management}/models?url=neg.mar&initial_workers=1&synchronous=true&batch_size=4&max_batch_delay=5000`, { method: 'POST' })).status, 200);
  const before = await worker('neg');
  const good = (x: number) => JSON.stringify({ inputs: { x: { dims: [1, 3], data: [x, x + 1, x + 2] } } });
  const bodies = [good(1), JSON.stringify({ inputs: { x: { dims: [1, 3], data: [1, 2] } } }), good(10), 'not json at all'];
  const answers = await Promise.all(bodies.map((body) => call(`${server.inference}/predictions/neg`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })));
  assert.deepEqual(answers.map((answer) => answer.status), [200, 400, 200, 400], answers.map((answer) => answer.text).join('\n'));
  assert.deepEqual(answers[0]!.body.outputs.y.data, [-1, -2, -3]);
  assert.deepEqual(answers[2]!.body.outputs.y.data, [-10, -11, -12]);
  assert.deepEqual(await worker('neg'), before);
});

test('a user handler (in its worker process) fails one request of a batch with settleEach from kiln/handler', async () => {
  const bundle = await bundleHandler(new URL('../../fixtures/handlers/per-request.ts', import.meta.url).pathname);
  await writeArchive({
    modelName: 'double',
    modelVersion: '1.0',
    handler: BUNDLED_HANDLER_FILE,
    entries: [{ name: BUNDLED_HANDLER_FILE, source: { bytes: bundle } }],
    exportPath: server.store,
    format: 'default',
    force: true,
  });
  assert.equal((await call(`${server.management}/models?url=double.mar&initial_workers=1&synchronous=true&batch_size=4&max_batch_delay=5000`, { method: 'POST' })).status, 200);
  const before = await worker('double');
  assert.notEqual(before.pid, server.process.pid, 'a user handler runs in a worker process of its own');
  const answers = await Promise.all(['1', '2.5', 'x', '-4'].map((body) => call(`${server.inference}/predictions/double`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } })));
  assert.deepEqual(answers.map((answer) => answer.status), [200, 200, 422, 200], answers.map((answer) => answer.text).join('\n'));
  assert.deepEqual(answers.filter((answer) => answer.status === 200).map((answer) => answer.body.double), [2, 5, -8]);
  assert.equal(answers[2]!.body.message, "'x' is not a number");
  assert.deepEqual(await batches('double'), { count: 1, sum: 4 }, 'the four requests ran as one batch');
  assert.deepEqual(await worker('double'), before);
});
