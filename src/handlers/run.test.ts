import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createManifest } from '../archive/manifest.js';
import { KilnError } from '../core/errors.js';
import { silentLogger } from '../core/log.js';
import type { ModelContextInit } from './context.js';
import { isFailure, runBatch, type BatchRequest, type HandlerResponse, type RequestOutcome } from './run.js';
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

/** Every request of the batch failed with the same error, which passes `check`. */
async function failsWhole(outcomes: Promise<RequestOutcome[]>, check: (error: unknown) => boolean): Promise<void> {
  const settled = await outcomes;
  assert.equal(settled.length, requests.length);
  assert.ok(settled.every((outcome) => outcome === settled[0]), 'the requests did not share one error');
  check(settled[0]);
}

function ok(outcome: RequestOutcome | undefined): HandlerResponse {
  assert.ok(outcome && !isFailure(outcome), `request failed: ${outcome instanceof Error ? outcome.message : outcome}`);
  return outcome;
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
  const [first, second, third] = responses.map(ok);
  assert.deepEqual([...first!.body], [9, 9]);
  assert.equal(first!.json, false);
  assert.equal(first!.settings.contentType, 'application/octet-stream');
  assert.equal(new TextDecoder().decode(second!.body), 'héllo');
  assert.equal(second!.settings.status, 201);
  assert.equal(second!.settings.phrase, 'Created');
  assert.deepEqual(JSON.parse(new TextDecoder().decode(third!.body)), { top: [1, 2], score: [0.5] });
  assert.equal(third!.json, true);
  assert.deepEqual(third!.settings.headers, { 'x-model': 'm' });
});

test('a handler that throws → KILN_HANDLER_FAILED naming every request of the batch', async () => {
  await failsWhole(
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
  await failsWhole(
    runBatch(handler(() => { throw new PredictionError('quota exceeded', 429); }), model, requests),
    expectError('KILN_HANDLER_PREDICTION_ERROR', (error) => {
      assert.equal(error.message, 'quota exceeded');
      assert.equal(error.details['status'], 429);
    }),
  );
});

test('a throw that names one request (bad input of request 1) fails it alone; the others run again without it', async () => {
  const seen: number[][] = [];
  const outcomes = await runBatch(
    handler((inputs) => {
      seen.push(inputs.map((input) => (input['body'] as Uint8Array)[0]!));
      if (inputs.length === 3) throw new KilnError('KILN_HANDLER_INPUT_INVALID', 'request 1: not an image', { details: { requestIndex: 1 } });
      return inputs.map((input) => `ok ${(input['body'] as Uint8Array)[0]}`);
    }),
    model,
    requests,
  );
  assert.deepEqual(seen, [[1, 2, 3], [1, 3]]);
  assert.equal(new TextDecoder().decode(ok(outcomes[0]).body), 'ok 1');
  assert.ok(expectError('KILN_HANDLER_INPUT_INVALID', (error) => assert.equal(error.details['requestIndex'], 1))(outcomes[1]));
  assert.equal(new TextDecoder().decode(ok(outcomes[2]).body), 'ok 3');
});

test('an Error returned as a result fails that request alone, with its status', async () => {
  const outcomes = await runBatch(
    handler(() => ['a', new PredictionError('no face found', 422), new TypeError('bad pixel')]),
    model,
    requests,
  );
  assert.equal(new TextDecoder().decode(ok(outcomes[0]).body), 'a');
  assert.ok(expectError('KILN_HANDLER_PREDICTION_ERROR', (error) => {
    assert.equal(error.message, 'no face found');
    assert.equal(error.details['status'], 422);
    assert.equal(error.details['requestIndex'], 1);
  })(outcomes[1]));
  assert.ok(expectError('KILN_HANDLER_FAILED', (error) => {
    assert.equal(error.details['reason'], 'bad pixel');
    assert.equal(error.details['requestIndex'], 2);
  })(outcomes[2]));
});

test('a non-array result → KILN_HANDLER_OUTPUT_INVALID', async () => {
  await failsWhole(
    runBatch(handler(() => ({ label: 'cat' })), model, requests),
    expectError('KILN_HANDLER_OUTPUT_INVALID', (error) => assert.match(error.message, /^Invalid model predict output: the handler returned Object/)),
  );
});

for (const count of [2, 4]) {
  test(`${count} results for 3 requests → KILN_HANDLER_BATCH_MISMATCH`, async () => {
    await failsWhole(
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
  test(`a result holding ${name} → KILN_HANDLER_OUTPUT_UNSERIALIZABLE for that request alone`, async () => {
    const outcomes = await runBatch(handler(() => ['ok', value, 'ok']), model, requests);
    ok(outcomes[0]);
    ok(outcomes[2]);
    assert.ok(expectError('KILN_HANDLER_OUTPUT_UNSERIALIZABLE', (error) => {
      assert.equal(error.details['requestIndex'], 1);
      assert.match(error.message, /^Unsupported model output data type\. \(request 1: /);
    })(outcomes[1]));
  });
}

test('per-request setters refuse an index outside the batch', async () => {
  await failsWhole(
    runBatch(handler((_, context) => { context.setResponseStatus(3, 200); return ['a', 'b', 'c']; }), model, requests),
    expectError('KILN_HANDLER_FAILED', (error) => assert.match(String(error.details['reason']), /request index 3 is outside this batch of 3/)),
  );
});

test('a KilnError without a request index gets every index of the batch; one with an index keeps it', async () => {
  await failsWhole(
    runBatch(handler(() => { throw new KilnError('KILN_RUNTIME_RUN_FAILED', 'm: inference failed'); }), model, requests),
    expectError('KILN_RUNTIME_RUN_FAILED', (error) => assert.deepEqual(error.details['requestIndices'], [0, 1, 2])),
  );
});

test('a PredictionError status outside 400-599 becomes 500', async () => {
  await failsWhole(
    runBatch(handler(() => { throw new PredictionError('odd', 99); }), model, requests),
    expectError('KILN_HANDLER_PREDICTION_ERROR', (error) => assert.equal(error.details['status'], 500)),
  );
});

test('describe requests get the describe() hook (null without one); the predictions of the same batch run without them', async () => {
  const seen: number[] = [];
  const described: Handler = {
    ...handler((inputs) => {
      seen.push(inputs.length);
      return inputs.map(() => 'predicted');
    }),
    describe: (context) => ({ model: context.modelName }),
  };
  const mixed: BatchRequest[] = [requests[0]!, { input: {}, describe: true }, requests[1]!];
  const outcomes = (await runBatch(described, model, mixed)) as HandlerResponse[];
  assert.deepEqual(seen, [2]);
  assert.deepEqual(outcomes.map((outcome) => new TextDecoder().decode(outcome.body).trim()), ['predicted', '{\n  "model": "m"\n}', 'predicted']);
  const bare = (await runBatch(handler(() => assert.fail('handle ran')), model, [{ input: {}, describe: true }])) as HandlerResponse[];
  assert.equal(new TextDecoder().decode(bare[0]!.body).trim(), 'null');
});
