/**
 * Every entry point counts a request in the same one place (src/serving/metrics-recorder.ts):
 * one request through each of them (a TorchServe route, OIP over REST, OIP over gRPC, a
 * workflow) moves the model's `ts_inference_requests_total`, its `kiln_request_latency_seconds`
 * count and its `kiln_batch_size` count by exactly one, and `Requests2XX` by one for an HTTP
 * request (none for gRPC, as in TorchServe), and no other model's counters.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { writeUnaryTensorArchive, writeWorkflowFixture } from '../../fixtures/archives.js';
import { call, startServer, type ServerUnderTest } from './harness.js';

const PROTO = new URL('../../../src/server/oip/inference.proto', import.meta.url).pathname;

let server: ServerUnderTest;
let client: grpc.Client & Record<string, (request: object, callback: (error: grpc.ServiceError | null, reply: unknown) => void) => void>;

before(async () => {
  server = await startServer({ properties: ['grpc_inference_port=0'] });
  await writeUnaryTensorArchive(server.store, 'neg', 'Neg');
  await writeWorkflowFixture(server.store, 'w', 'models:\n  n:\n    url: neg.mar\ndag:\n  n: []\n');
  assert.equal((await call(`${server.management}/models?url=neg.mar&initial_workers=1&synchronous=true`, { method: 'POST' })).status, 200);
  assert.equal((await call(`${server.management}/workflows?url=w.war`, { method: 'POST' })).status, 200);
  const definition = protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const Service = (grpc.loadPackageDefinition(definition)['inference'] as grpc.GrpcObject)['GRPCInferenceService'] as grpc.ServiceClientConstructor;
  client = new Service(server.grpc.replace('grpc://', ''), grpc.credentials.createInsecure()) as unknown as typeof client;
});
after(async () => {
  client?.close();
  await server?.stop();
});

/** The sum of a family's samples (for one model when `model` is given), from the metrics page. */
function sum(text: string, family: string, model?: string): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${family}{`) && (model === undefined || line.includes(`model_name="${model}"`)))
    .reduce((total, line) => total + Number(line.split(' ').at(-1)), 0);
}

const MODELS = ['neg', 'w__n'] as const;
const PER_MODEL = ['ts_inference_requests_total', 'kiln_request_latency_seconds_count', 'kiln_batch_size_count'] as const;

async function counters(): Promise<Record<string, number>> {
  const text = (await call(`${server.metrics}/metrics`)).text;
  const out: Record<string, number> = { Requests2XX: sum(text, 'Requests2XX') };
  for (const model of MODELS) for (const family of PER_MODEL) out[`${family}/${model}`] = sum(text, family, model);
  return out;
}

/** What one request must move: each per-model counter of `model` by one, Requests2XX by `http`. */
function expectedMoves(model: (typeof MODELS)[number], http: 0 | 1): Record<string, number> {
  const out: Record<string, number> = { Requests2XX: http };
  for (const name of MODELS) for (const family of PER_MODEL) out[`${family}/${name}`] = name === model ? 1 : 0;
  return out;
}

async function moves(send: () => Promise<void>): Promise<Record<string, number>> {
  const before = await counters();
  await send();
  const after = await counters();
  return Object.fromEntries(Object.keys(before).map((key) => [key, after[key]! - before[key]!]));
}

const TENSOR_REQUEST = JSON.stringify({ inputs: { x: { dims: [1, 3], data: [1, -2, 3] } } });

const ok = async (url: string, body: string) => {
  const result = await call(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  assert.equal(result.status, 200, result.text);
};

test('a TorchServe prediction counts once', async () => {
  assert.deepEqual(await moves(() => ok(`${server.inference}/predictions/neg`, TENSOR_REQUEST)), expectedMoves('neg', 1));
});

test('an OIP REST inference counts once', async () => {
  const body = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, -2, 3] }] });
  assert.deepEqual(await moves(() => ok(`${server.inference}/v2/models/neg/infer`, body)), expectedMoves('neg', 1));
});

test('an OIP gRPC inference counts once (and no HTTP status)', async () => {
  const request = { model_name: 'neg', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], contents: { fp32_contents: [1, -2, 3] } }] };
  const send = () => new Promise<void>((resolve, reject) => client['ModelInfer']!(request, (error) => (error ? reject(error) : resolve())));
  assert.deepEqual(await moves(send), expectedMoves('neg', 0));
});

test("a workflow prediction counts once, on its node's model", async () => {
  assert.deepEqual(await moves(() => ok(`${server.inference}/wfpredict/w`, TENSOR_REQUEST)), expectedMoves('w__n', 1));
});

test('a management request moves only Requests2XX', async () => {
  const expected = { ...expectedMoves('neg', 1), ...Object.fromEntries(MODELS.flatMap((model) => PER_MODEL.map((family) => [`${family}/${model}`, 0]))) };
  assert.deepEqual(
    await moves(async () => {
      assert.equal((await call(`${server.management}/models/neg`)).status, 200);
    }),
    expected,
  );
});
