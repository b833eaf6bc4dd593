/**
 * The Open Inference Protocol v2 over gRPC (spec oip-v2.md §13, item 23: items 1–7, 10, 11, 13
 * and 14 through GRPCInferenceService) against a real `kiln serve` with `grpc_inference_port=0`,
 * driven by @grpc/grpc-js with the service's .proto: the same model `m` as the REST checklist,
 * versions 1.0 and 2.0, and a noop model `slow` that takes 4 s to load.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { seededRandom } from '../../../src/core/random.js';
import { Engine } from '../../../src/runtime/engine.js';
import { writeNoopArchive, writeOipModelArchive } from '../../fixtures/archives.js';
import { call, startServer, type ServerUnderTest } from './harness.js';

const PROTO = new URL('../../../src/server/oip/inference.proto', import.meta.url).pathname;
const random = seededRandom(11);
const W1 = Float32Array.from({ length: 480 }, () => random() * 2 - 1);
const W2 = W1.map((w) => w * 3);
const X = Array.from({ length: 48 }, (_, i) => Math.round(Math.cos(i) * 1000) / 1000);

type Unary = (request: object, callback: (error: grpc.ServiceError | null, reply: any) => void) => void;
type Client = grpc.Client & Record<string, Unary>;

describe('Open Inference Protocol v2 over gRPC', () => {
  let server: ServerUnderTest;
  let client: Client;
  let v1: Engine;
  let v2: Engine;
  /** Calls one RPC; resolves its reply, or rejects with the gRPC error. */
  const rpc = (method: string, request: object = {}): Promise<any> =>
    new Promise((resolve, reject) => client[method]!(request, (error, reply) => (error ? reject(error) : resolve(reply))));
  const fails = async (method: string, request: object, code: grpc.status, message?: RegExp) => {
    await assert.rejects(rpc(method, request), (error: grpc.ServiceError) => {
      assert.equal(error.code, code, `${grpc.status[error.code]}: ${error.details}`);
      if (message) assert.match(error.details, message);
      return true;
    });
  };
  const fp32Request = (extra: object = {}) => ({ model_name: 'm', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 4, 4], contents: { fp32_contents: X } }], ...extra });
  const direct = async (engine: Engine) => {
    const outputs = await engine.run({ x: { type: 'float32', dims: [1, 3, 4, 4], data: Float32Array.from(X) } });
    return { y: Array.from(outputs['y']!.data as Float32Array), z: Array.from(outputs['z']!.data as BigInt64Array) };
  };
  /** Batches version 1.0 of `m` has run (kiln_batch_size's count). */
  const batchCount = async () => {
    const text = (await call(`${server.metrics}/metrics`)).text;
    const line = text.split('\n').find((row) => row.startsWith('kiln_batch_size_count{') && row.includes('model_name="m"') && row.includes('model_version="1.0"'));
    assert.ok(line, 'kiln_batch_size_count of m 1.0');
    return Number(line.split(' ').at(-1));
  };
  /** Decodes raw_output_contents by the datatypes the response names. */
  const outputsOf = (reply: any): Record<string, number[] | bigint[]> =>
    Object.fromEntries(
      (reply.outputs as { name: string; datatype: string }[]).map((output, index) => {
        const bytes: Buffer = reply.raw_output_contents[index];
        const buffer = new Uint8Array(bytes).buffer;
        return [output.name, output.datatype === 'INT64' ? Array.from(new BigInt64Array(buffer)) : Array.from(new Float32Array(buffer))];
      }),
    );

  before(async () => {
    server = await startServer({ properties: ['grpc_inference_port=0'] });
    assert.match(server.grpc, /^grpc:\/\/127\.0\.0\.1:\d+$/);
    const first = await writeOipModelArchive(server.store, { name: 'm', version: '1.0', weights: W1 });
    mkdirSync(join(server.store, 'v2'));
    const second = await writeOipModelArchive(join(server.store, 'v2'), { name: 'm', version: '2.0', weights: W2 });
    await writeNoopArchive(server.store, { name: 'slow', config: 'handler:\n  loadMs: 4000\n' });
    v1 = await Engine.load(first.onnx);
    v2 = await Engine.load(second.onnx);
    for (const url of ['m.mar&batch_size=8&max_batch_delay=20', 'v2/m.mar']) {
      assert.equal((await call(`${server.management}/models?url=${url}&initial_workers=1&synchronous=true`, { method: 'POST' })).status, 200);
    }
    const definition = protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
    const Service = (grpc.loadPackageDefinition(definition)['inference'] as grpc.GrpcObject)['GRPCInferenceService'] as grpc.ServiceClientConstructor;
    client = new Service(server.grpc.replace('grpc://', ''), grpc.credentials.createInsecure()) as unknown as Client;
  });
  after(async () => {
    client?.close();
    await v1?.release();
    await v2?.release();
    assert.equal(await server.stop(), 0);
  });

  test('23 (1, 2, 6): live; ready UNAVAILABLE while slow loads, then ready; model ready per version, NOT_FOUND when unknown', async () => {
    assert.equal((await call(`${server.management}/models?url=slow.mar&initial_workers=1&synchronous=false`, { method: 'POST' })).status, 202);
    assert.deepEqual(await rpc('ServerLive'), { live: true });
    await fails('ServerReady', {}, grpc.status.UNAVAILABLE, /model slow/);
    await fails('ModelReady', { name: 'slow' }, grpc.status.UNAVAILABLE);
    assert.deepEqual(await rpc('ModelReady', { name: 'm', version: '2.0' }), { ready: true });
    await fails('ModelReady', { name: 'm', version: '9' }, grpc.status.NOT_FOUND);
    let ready = false;
    for (let attempt = 0; attempt < 100 && !ready; attempt++) {
      ready = await rpc('ServerReady').then(() => true, () => false);
      if (!ready) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(ready, 'ready once slow has loaded');
    assert.deepEqual(await rpc('ModelReady', { name: 'slow' }), { ready: true });
  });

  test('23 (3, 4, 5): server and model metadata as REST gives them; unknown model or version NOT_FOUND', async () => {
    const metadata = await rpc('ServerMetadata');
    assert.equal(metadata.name, 'kiln');
    assert.deepEqual(metadata.extensions, ['binary_tensor_data', 'classification']);
    const model = await rpc('ModelMetadata', { name: 'm' });
    assert.deepEqual(model, {
      name: 'm',
      versions: ['1.0', '2.0'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'x', datatype: 'FP32', shape: ['-1', '3', '4', '4'] }],
      outputs: [
        { name: 'y', datatype: 'FP32', shape: ['-1', '10'] },
        { name: 'z', datatype: 'INT64', shape: ['-1'] },
      ],
    });
    await fails('ModelMetadata', { name: 'nope' }, grpc.status.NOT_FOUND, /nope/);
    await fails('ModelMetadata', { name: 'm', version: '9' }, grpc.status.NOT_FOUND);
  });

  test('23 (7, 14): typed contents and raw_input_contents give a direct run\'s outputs, raw, with the id echoed', async () => {
    const expected = await direct(v1);
    const typed = await rpc('ModelInfer', fp32Request({ id: 'a1' }));
    assert.equal(typed.model_name, 'm');
    assert.equal(typed.model_version, '1.0');
    assert.equal(typed.id, 'a1');
    assert.deepEqual(typed.outputs.map((o: any) => [o.name, o.datatype, o.shape]), [['y', 'FP32', ['1', '10']], ['z', 'INT64', ['1']]]);
    const values = outputsOf(typed);
    (values['y'] as number[]).forEach((value, i) => assert.ok(Math.abs(value - expected.y[i]!) <= 1e-6, `y[${i}]`));
    assert.deepEqual(values['z'], expected.z);
    const raw = await rpc('ModelInfer', { model_name: 'm', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 4, 4] }], raw_input_contents: [Buffer.from(Float32Array.from(X).buffer)] });
    assert.deepEqual(outputsOf(raw), values);
  });

  test('23 (10, 11): output selection; each malformed request is INVALID_ARGUMENT, and the service keeps serving', async () => {
    const onlyZ = await rpc('ModelInfer', fp32Request({ outputs: [{ name: 'z' }] }));
    assert.deepEqual(onlyZ.outputs.map((o: any) => o.name), ['z']);
    assert.equal(onlyZ.raw_output_contents.length, 1);
    await fails('ModelInfer', fp32Request({ outputs: [{ name: 'q' }] }), grpc.status.INVALID_ARGUMENT, /'q'/);
    await fails('ModelInfer', { model_name: 'm', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 4, 4], contents: { fp32_contents: X.slice(1) } }] }, grpc.status.INVALID_ARGUMENT, /47 values/);
    await fails('ModelInfer', { model_name: 'm', inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 3, 4, 4], contents: { fp64_contents: X } }] }, grpc.status.INVALID_ARGUMENT, /FP64/);
    await fails('ModelInfer', { model_name: 'm', inputs: [{ name: 'x', datatype: 'FP16', shape: [1, 3, 4, 4] }] }, grpc.status.INVALID_ARGUMENT, /raw_input_contents/);
    await fails('ModelInfer', { model_name: 'm', inputs: [] }, grpc.status.INVALID_ARGUMENT, /missing model input 'x'/);
    await fails(
      'ModelInfer',
      { model_name: 'm', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 4, 4] }], raw_input_contents: [Buffer.alloc(191)] },
      grpc.status.INVALID_ARGUMENT,
      /191/,
    );
    await fails('ModelInfer', { ...fp32Request(), model_name: 'slow' }, grpc.status.INVALID_ARGUMENT, /--handler tensor/);
    assert.equal((await rpc('ModelInfer', fp32Request())).outputs.length, 2);
  });

  test('32 concurrent ModelInfer calls (batch size 8) each get their own rows back, batched', async () => {
    const batchesBefore = await batchCount();
    const replies = await Promise.all(
      Array.from({ length: 32 }, (_, k) => rpc('ModelInfer', { model_name: 'm', id: String(k), inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 4, 4], contents: { fp32_contents: X.map((v) => v + k) } }] })),
    );
    for (const [k, reply] of replies.entries()) {
      assert.equal(reply.id, String(k));
      const outputs = await v1.run({ x: { type: 'float32', dims: [1, 3, 4, 4], data: Float32Array.from(X, (v) => v + k) } });
      const expected = Array.from(outputs['y']!.data as Float32Array);
      (outputsOf(reply)['y'] as number[]).forEach((value, i) => assert.ok(Math.abs(value - expected[i]!) <= 1e-5, `call ${k} y[${i}]`));
    }
    const batches = (await batchCount()) - batchesBefore;
    assert.ok(batches >= 4 && batches < 32, `32 calls ran in ${batches} batches`);
  });

  test('a message over max_request_size is RESOURCE_EXHAUSTED, and the service keeps serving', async () => {
    const huge = Buffer.alloc(7_000_000);
    await fails('ModelInfer', { model_name: 'm', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 4, 4] }], raw_input_contents: [huge] }, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal((await rpc('ModelInfer', fp32Request())).outputs.length, 2);
  });

  test('23 (13): a version is served by that version; an unknown one is NOT_FOUND; gRPC inferences are counted', async () => {
    const expected = await direct(v2);
    const reply = await rpc('ModelInfer', fp32Request({ model_version: '2.0' }));
    assert.equal(reply.model_version, '2.0');
    (outputsOf(reply)['y'] as number[]).forEach((value, i) => assert.ok(Math.abs(value - expected.y[i]!) <= 1e-6, `y[${i}]`));
    await fails('ModelInfer', fp32Request({ model_version: '9' }), grpc.status.NOT_FOUND);
    const metrics = await call(`${server.metrics}/metrics`);
    assert.match(metrics.text, /ts_inference_requests_total\{[^}]*model_name="m"[^}]*model_version="2\.0"[^}]*\} [1-9]/);
  });
});
