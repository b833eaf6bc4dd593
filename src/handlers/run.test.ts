import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createManifest } from '../archive/manifest.js';
import { KilnError } from '../core/errors.js';
import { silentLogger } from '../core/log.js';
import type { ModelContextInit } from './context.js';
import { runBatch, type BatchRequest } from './run.js';
import { PredictionError, type Handler, type HandlerContext, type RequestInput } from './types.js';

const model: ModelContextInit = {
  manifest: createManifest({ modelName: 'm', modelVersion: '1.0', handler: 'x' }),
  modelDir: '/nonexistent',
  modelPath: undefined,
  modelYamlConfig: {},
  systemProperties: { model_dir: '/nonexistent', gpu_id: null, batch_size: 3, server_name: 'kiln', server_version: '0', limit_max_image_pixels: true },
  logger: silentLogger(),
};

const requests: BatchRequest[] = [
  { input: { body: new Uint8Array([1]) }, id: 'r0', headers: { 'X-Trace': 'a' } },
  { input: { body: new Uint8Array([2]) }, id: 'r1' },
  { input: { body: new Uint8Array([3]) }, id: 'r2' },
];

function handler(handle: (requests: readonly RequestInput[], context: HandlerContext) => unknown): Handler {
  return { initialize: async () => undefined, handle: async (r, c) => (await handle(r, c)) as unknown[] };
}

function expectError(code: string, check: (error: KilnError) => void) {
  return (error: unknown) => {
    assert.ok(error instanceof KilnError, `not a KilnError: ${error}`);
    assert.equal(error.code, code);
    check(error);
    return true;
  };
}

test('results are encoded per request: bytes as is, strings as UTF-8, values as JSON, with handler-set status and headers', async () => {
  const responses = await runBatch(
    handler((_, context) => {
      context.setResponseStatus(1, 201, 'Created');
      context.setResponseContentType(0, 'application/octet-stream');
      context.setResponseHeader(2, 'x-model', context.modelName);
      assert.equal(context.getRequestHeader(0, 'x-trace'), 'a');
      assert.equal(context.getRequestId(1), 'r1');
      return [new Uint8Array([9, 9]), 'héllo', { top: [1, 2], score: new Float32Array([0.5]) }];
    }),
    model,
    requests,
  );
  assert.deepEqual([...responses[0]!.body], [9, 9]);
  assert.equal(responses[0]!.json, false);
  assert.equal(responses[0]!.settings.contentType, 'application/octet-stream');
  assert.equal(new TextDecoder().decode(responses[1]!.body), 'héllo');
  assert.equal(responses[1]!.settings.status, 201);
  assert.equal(responses[1]!.settings.phrase, 'Created');
  assert.deepEqual(JSON.parse(new TextDecoder().decode(responses[2]!.body)), { top: [1, 2], score: [0.5] });
  assert.equal(responses[2]!.json, true);
  assert.deepEqual(responses[2]!.settings.headers, { 'x-model': 'm' });
});

test('a handler that throws → KILN_HANDLER_FAILED naming every request of the batch', async () => {
  await assert.rejects(
    runBatch(handler(() => { throw new TypeError('boom'); }), model, requests),
    expectError('KILN_HANDLER_FAILED', (error) => {
      assert.equal(error.message, "Prediction failed");
      assert.equal(error.details["reason"], "boom");
      assert.deepEqual(error.details['requestIndices'], [0, 1, 2]);
      assert.ok(error.cause instanceof TypeError);
    }),
  );
});

test('a PredictionError keeps its message and status', async () => {
  await assert.rejects(
    runBatch(handler(() => { throw new PredictionError('quota exceeded', 429); }), model, requests),
    expectError('KILN_HANDLER_PREDICTION_ERROR', (error) => {
      assert.equal(error.message, 'quota exceeded');
      assert.equal(error.details['status'], 429);
    }),
  );
});

test('a KilnError from the handler (e.g. bad input of request 1) passes through with its index', async () => {
  await assert.rejects(
    runBatch(handler(() => { throw new KilnError('KILN_HANDLER_INPUT_INVALID', 'request 1: not an image', { details: { requestIndex: 1 } }); }), model, requests),
    expectError('KILN_HANDLER_INPUT_INVALID', (error) => assert.equal(error.details['requestIndex'], 1)),
  );
});

test('a non-array result → KILN_HANDLER_OUTPUT_INVALID', async () => {
  await assert.rejects(
    runBatch(handler(() => ({ label: 'cat' })), model, requests),
    expectError('KILN_HANDLER_OUTPUT_INVALID', (error) => assert.match(error.message, /^Invalid model predict output: the handler returned Object/)),
  );
});

for (const count of [2, 4]) {
  test(`${count} results for 3 requests → KILN_HANDLER_BATCH_MISMATCH`, async () => {
    await assert.rejects(
      runBatch(handler(() => Array(count).fill('x')), model, requests),
      expectError('KILN_HANDLER_BATCH_MISMATCH', (error) => {
        assert.match(error.message, /^number of batch response mismatched: 3 requests, \d results/);
        assert.equal(error.details['results'], count);
      }),
    );
  });
}

const circular: Record<string, unknown> = {};
circular['self'] = circular;
for (const [name, value] of [
  ['a function', () => 1],
  ['a BigInt', { n: 10n }],
  ['NaN', { score: Number.NaN }],
  ['a circular object', circular],
  ['undefined', undefined],
  ['a symbol in an object', { s: Symbol('x') }],
] as const) {
  test(`a result holding ${name} → KILN_HANDLER_OUTPUT_UNSERIALIZABLE with its request index`, async () => {
    await assert.rejects(
      runBatch(handler(() => ['ok', value, 'ok']), model, requests),
      expectError('KILN_HANDLER_OUTPUT_UNSERIALIZABLE', (error) => {
        assert.equal(error.details['requestIndex'], 1);
        assert.match(error.message, /^Unsupported model output data type\. \(request 1: /);
      }),
    );
  });
}

test('per-request setters refuse an index outside the batch', async () => {
  await assert.rejects(
    runBatch(handler((_, context) => { context.setResponseStatus(3, 200); return ['a', 'b', 'c']; }), model, requests),
    expectError('KILN_HANDLER_FAILED', (error) => assert.match(String(error.details['reason']), /request index 3 is outside this batch of 3/)),
  );
});

test('a KilnError without a request index gets every index of the batch; one with an index keeps it', async () => {
  await assert.rejects(
    runBatch(handler(() => { throw new KilnError('KILN_RUNTIME_RUN_FAILED', 'm: inference failed'); }), model, requests),
    expectError('KILN_RUNTIME_RUN_FAILED', (error) => assert.deepEqual(error.details['requestIndices'], [0, 1, 2])),
  );
});

test('a PredictionError status outside 400-599 becomes 500', async () => {
  await assert.rejects(
    runBatch(handler(() => { throw new PredictionError('odd', 99); }), model, requests),
    expectError('KILN_HANDLER_PREDICTION_ERROR', (error) => assert.equal(error.details['status'], 500)),
  );
});
