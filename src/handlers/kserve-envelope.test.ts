import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createManifest } from '../archive/manifest.js';
import { KilnError } from '../core/errors.js';
import { silentLogger } from '../core/log.js';
import type { ModelContextInit } from './context.js';
import { runBatch, type BatchRequest, type RequestOutcome } from './run.js';
import type { Handler, RequestInput } from './types.js';

const model: ModelContextInit = {
  manifest: createManifest({ modelName: 'm', modelVersion: '1.0', handler: 'x' }),
  modelDir: '/nonexistent',
  modelPath: undefined,
  modelYamlConfig: {},
  systemProperties: { model_dir: '/nonexistent', gpu_id: null, batch_size: 4, server_name: 'kiln', server_version: '0', limit_max_image_pixels: true },
  logger: silentLogger(),
};

/** Doubles `x` of each row; a row without a number `x` fails alone. Records every batch it sees. */
function doubler(seen: RequestInput[][]): Handler {
  return {
    initialize: async () => undefined,
    handle: async (rows) => {
      seen.push([...rows]);
      return rows.map((row) => (typeof row['x'] === 'number' ? { y: row['x'] * 2 } : new KilnError('KILN_HANDLER_INPUT_INVALID', 'no x')));
    },
  };
}

function json(outcome: RequestOutcome | undefined): unknown {
  assert.ok(outcome && !(outcome instanceof KilnError), `failed: ${outcome instanceof KilnError ? outcome.message : outcome}`);
  assert.equal(outcome.settings.contentType, 'application/json');
  return JSON.parse(new TextDecoder().decode(outcome.body));
}

const v1 = (body: unknown, extra: Partial<BatchRequest> = {}): BatchRequest => ({ input: { body }, envelope: 'kserve', ...extra });

test('every enveloped request of a batch is unwrapped: one handler batch of all instances, each request answered with its own predictions', async () => {
  const seen: RequestInput[][] = [];
  const outcomes = await runBatch(doubler(seen), model, [v1({ instances: [{ x: 1 }, { x: 2 }] }), v1({ instances: [{ x: 10 }] })]);
  assert.deepEqual(seen, [[{ x: 1 }, { x: 2 }, { x: 10 }]]);
  assert.deepEqual(json(outcomes[0]), { predictions: [{ y: 2 }, { y: 4 }] });
  assert.deepEqual(json(outcomes[1]), { predictions: [{ y: 20 }] });
});

test('a JSON body not yet parsed (bytes, or the data field) is read as TorchServe reads it; explain: True answers explanations', async () => {
  const seen: RequestInput[][] = [];
  const bytes = new TextEncoder().encode('{"instances": [{"x": 3}]}');
  const outcomes = await runBatch(doubler(seen), model, [
    { input: { body: bytes }, envelope: 'kserve' },
    { input: { data: '{"instances": [{"x": 4}]}' }, envelope: 'kserve', headers: { explain: 'True' } },
  ]);
  assert.deepEqual(json(outcomes[0]), { predictions: [{ y: 6 }] });
  assert.deepEqual(json(outcomes[1]), { explanations: [{ y: 8 }] });
});

test('a body that is not {"instances": [...]} fails its request alone with a 400; the others still run', async () => {
  const seen: RequestInput[][] = [];
  const outcomes = await runBatch(doubler(seen), model, [v1({ inputs: [1] }), v1('not json'), v1({ instances: [{ x: 5 }] })]);
  for (const bad of outcomes.slice(0, 2)) {
    assert.ok(bad instanceof KilnError);
    assert.equal(bad.code, 'KILN_HANDLER_INPUT_INVALID');
    assert.equal(bad.kind, 'invalid_arg');
    assert.match(bad.message, /service_envelope=kserve expects a KServe v1 body/);
  }
  assert.deepEqual(json(outcomes[2]), { predictions: [{ y: 10 }] });
  assert.deepEqual(seen, [[{ x: 5 }]]);
});

test('a failing instance fails its own request (naming the instance), not the request beside it', async () => {
  const outcomes = await runBatch(doubler([]), model, [v1({ instances: [{ x: 1 }, { nope: true }] }), v1({ instances: [{ x: 7 }] })]);
  assert.ok(outcomes[0] instanceof KilnError);
  assert.equal(outcomes[0].code, 'KILN_HANDLER_INPUT_INVALID');
  assert.match(outcomes[0].message, /^instance 1: /);
  assert.deepEqual(json(outcomes[1]), { predictions: [{ y: 14 }] });
});

test('requests without the envelope in the same batch pass through untouched; non-object instances become the row body', async () => {
  const seen: RequestInput[][] = [];
  const echo: Handler = {
    initialize: async () => undefined,
    handle: async (rows) => {
      seen.push([...rows]);
      return rows.map((row) => row['body'] ?? row);
    },
  };
  const plain = new Uint8Array([0xff, 0xfe]);
  const outcomes = await runBatch(echo, model, [{ input: { body: plain } }, v1({ instances: [[1, 2], 'text'] })]);
  assert.deepEqual(seen, [[{ body: plain }, { body: [1, 2] }, { body: 'text' }]]);
  const first = outcomes[0];
  assert.ok(first && !(first instanceof KilnError));
  assert.deepEqual([...first.body], [0xff, 0xfe]);
  assert.deepEqual(json(outcomes[1]), { predictions: [[1, 2], 'text'] });
});

test('an empty instances list answers empty predictions without calling the handler', async () => {
  const seen: RequestInput[][] = [];
  const outcomes = await runBatch(doubler(seen), model, [v1({ instances: [] })]);
  assert.deepEqual(json(outcomes[0]), { predictions: [] });
  assert.deepEqual(seen, []);
});
