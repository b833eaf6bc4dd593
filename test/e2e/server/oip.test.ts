/**
 * The Open Inference Protocol v2 REST checklist (spec oip-v2.md §13, items 1–22) against a real
 * `kiln serve`: model `m` (x FP32 [-1,3,4,4] → y FP32 [-1,10], z INT64 [-1]) in versions 1.0
 * (default) and 2.0 with different weights, a noop model `slow` that takes 4 s to load, and a
 * string model for BYTES. Expected values come from a direct onnxruntime run of the same bytes.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { seededRandom } from '../../../src/core/random.js';
import { Engine } from '../../../src/runtime/engine.js';
import { writeNoopArchive, writeOipModelArchive, writeStringIdentityArchive } from '../../fixtures/archives.js';
import { call, startServer, type ServerUnderTest } from './harness.js';

const random = seededRandom(7);
const W1 = Float32Array.from({ length: 480 }, () => random() * 2 - 1);
const W2 = W1.map((w) => -w);
const X = Array.from({ length: 48 }, (_, i) => Math.round(Math.sin(i + 1) * 1000) / 1000);

interface OipOutput {
  name: string;
  datatype: string;
  shape: number[];
  data?: unknown[];
  parameters?: Record<string, unknown>;
}

function assertOipError(result: { status: number; body: any; headers: Headers }, status: number, message?: RegExp): void {
  assert.equal(result.status, status, JSON.stringify(result.body));
  assert.deepEqual(Object.keys(result.body), ['error'], JSON.stringify(result.body));
  assert.equal(typeof result.body.error, 'string');
  assert.match(result.headers.get('content-type') ?? '', /^application\/json/);
  if (message) assert.match(result.body.error, message);
}

const inferBody = (x: unknown = X, shape = [1, 3, 4, 4], extra: Record<string, unknown> = {}) =>
  JSON.stringify({ inputs: [{ name: 'x', shape, datatype: 'FP32', data: x }], ...extra });

/** Splits a binary OIP response into its JSON part and the bytes after it. */
function splitBinary(bytes: Uint8Array, headerLength: number): { json: any; tail: Uint8Array } {
  return { json: JSON.parse(new TextDecoder().decode(bytes.subarray(0, headerLength))), tail: bytes.subarray(headerLength) };
}

describe('Open Inference Protocol v2 (REST)', () => {
  let server: ServerUnderTest;
  let v1: Engine;
  let v2: Engine;
  const infer = (path: string, body: string | Uint8Array, headers: Record<string, string> = {}) =>
    call(`${server.inference}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  const register = (query: string) => call(`${server.management}/models?${query}`, { method: 'POST' });
  /** What a direct onnxruntime run gives for X through one version. */
  const direct = async (engine: Engine, rows = 1) => {
    const data = Float32Array.from({ length: 48 * rows }, (_, i) => X[i % 48]! + Math.floor(i / 48));
    const outputs = await engine.run({ x: { type: 'float32', dims: [rows, 3, 4, 4], data } });
    return { y: Array.from(outputs['y']!.data as Float32Array), z: Array.from(outputs['z']!.data as BigInt64Array, Number), data: Array.from(data) };
  };

  before(async () => {
    server = await startServer();
    const first = await writeOipModelArchive(server.store, { name: 'm', version: '1.0', weights: W1, config: 'batchSize: 8\nmaxBatchDelay: 20\n' });
    mkdirSync(join(server.store, 'v2'));
    const second = await writeOipModelArchive(join(server.store, 'v2'), { name: 'm', version: '2.0', weights: W2 });
    await writeNoopArchive(server.store, { name: 'slow', config: 'handler:\n  loadMs: 4000\n' });
    await writeStringIdentityArchive(server.store, 'strings');
    v1 = await Engine.load(first.onnx);
    v2 = await Engine.load(second.onnx);
    assert.equal((await register('url=m.mar&initial_workers=1&synchronous=true')).status, 200);
    assert.equal((await register('url=v2/m.mar&initial_workers=1&synchronous=true')).status, 200);
    assert.equal((await register('url=strings.mar&initial_workers=1&synchronous=true')).status, 200);
  });
  after(async () => {
    await v1?.release();
    await v2?.release();
    assert.equal(await server.stop(), 0);
  });

  test('1, 2, 6: live always; ready 503 while slow loads, then 200; model ready per version', async () => {
    assert.equal((await register('url=slow.mar&initial_workers=1&synchronous=false')).status, 202);
    const live = await call(`${server.inference}/v2/health/live`);
    assert.equal(live.status, 200);
    assert.deepEqual(live.body, { live: true });
    assertOipError(await call(`${server.inference}/v2/health/ready`), 503, /not ready: model slow/);
    assertOipError(await call(`${server.inference}/v2/models/slow/ready`), 503, /slow.*not ready/);
    assert.deepEqual((await call(`${server.inference}/v2/models/m/ready`)).body, { name: 'm', ready: true });
    assert.deepEqual((await call(`${server.inference}/v2/models/m/versions/2.0/ready`)).body, { name: 'm', ready: true });
    let ready = await call(`${server.inference}/v2/health/ready`);
    for (let attempt = 0; attempt < 100 && ready.status !== 200; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      ready = await call(`${server.inference}/v2/health/ready`);
    }
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { ready: true });
    assert.deepEqual((await call(`${server.inference}/v2/models/slow/ready`)).body, { name: 'slow', ready: true });
  });

  test('3: server metadata at /v2 and /v2/, listing what is implemented', async () => {
    for (const path of ['/v2', '/v2/']) {
      const result = await call(`${server.inference}${path}`);
      assert.equal(result.status, 200, path);
      assert.deepEqual(result.body, { name: 'kiln', version: result.body.version, extensions: ['binary_tensor_data', 'classification'] });
      assert.match(result.body.version, /^\d+\.\d+\.\d+/);
    }
  });

  test('4, 5: model metadata from the ONNX signature; unknown model or version is 404', async () => {
    const metadata = await call(`${server.inference}/v2/models/m`);
    assert.equal(metadata.status, 200);
    assert.deepEqual(metadata.body, {
      name: 'm',
      versions: ['1.0', '2.0'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3, 4, 4] }],
      outputs: [
        { name: 'y', datatype: 'FP32', shape: [-1, 10] },
        { name: 'z', datatype: 'INT64', shape: [-1] },
      ],
    });
    assert.deepEqual((await call(`${server.inference}/v2/models/m/versions/2.0`)).body, metadata.body);
    assertOipError(await call(`${server.inference}/v2/models/nope`), 404, /nope/);
    assertOipError(await call(`${server.inference}/v2/models/m/versions/9`), 404, /9/);
    assertOipError(await call(`${server.inference}/v2/models/m/versions/9/ready`), 404);
    assertOipError(await call(`${server.inference}/v2/nothing/here`), 404);
  });

  test('7, 8, 9: infer with flat or nested data equals a direct onnxruntime run; id echoed only when sent', async () => {
    const expected = await direct(v1);
    const flat = await infer('/v2/models/m/infer', inferBody(X, [1, 3, 4, 4], { id: 'abc' }));
    assert.equal(flat.status, 200, flat.text);
    assert.match(flat.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(flat.body.model_name, 'm');
    assert.equal(flat.body.model_version, '1.0');
    assert.equal(flat.body.id, 'abc');
    const [y, z] = flat.body.outputs as OipOutput[];
    assert.deepEqual({ ...y, data: undefined }, { name: 'y', datatype: 'FP32', shape: [1, 10], data: undefined });
    assert.deepEqual({ ...z, data: undefined }, { name: 'z', datatype: 'INT64', shape: [1], data: undefined });
    (y!.data as number[]).forEach((value, i) => assert.ok(Math.abs(value - expected.y[i]!) <= 1e-6, `y[${i}] ${value} vs ${expected.y[i]}`));
    assert.deepEqual(z!.data, expected.z);
    const nested = [[0, 1, 2].map((c) => [0, 1, 2, 3].map((h) => X.slice(c * 16 + h * 4, c * 16 + h * 4 + 4)))];
    const nestedResult = await infer('/v2/models/m/infer', inferBody(nested, [1, 3, 4, 4]));
    assert.equal(nestedResult.status, 200, nestedResult.text);
    assert.deepEqual(nestedResult.body.outputs, flat.body.outputs);
    assert.equal('id' in nestedResult.body, false);
  });

  test('10: outputs select and order what comes back; an unknown output is 400', async () => {
    const onlyZ = await infer('/v2/models/m/infer', inferBody(X, [1, 3, 4, 4], { outputs: [{ name: 'z' }] }));
    assert.equal(onlyZ.status, 200, onlyZ.text);
    assert.deepEqual(onlyZ.body.outputs.map((o: OipOutput) => o.name), ['z']);
    const reordered = await infer('/v2/models/m/infer', inferBody(X, [1, 3, 4, 4], { outputs: [{ name: 'z' }, { name: 'y' }] }));
    assert.deepEqual(reordered.body.outputs.map((o: OipOutput) => o.name), ['z', 'y']);
    assertOipError(await infer('/v2/models/m/infer', inferBody(X, [1, 3, 4, 4], { outputs: [{ name: 'q' }] })), 400, /'q'/);
  });

  test('11, 12, 22: each malformed request is 400 (405 for GET on infer), and the server keeps serving', async () => {
    const bad: [string, string | RegExp][] = [
      [inferBody(X.slice(1)), /47/],
      [JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3, 4, 4], datatype: 'FP64', data: X }] }), /FP64/],
      [JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3, 4, 4], datatype: 'FOO', data: X }] }), /FOO/],
      [JSON.stringify({ inputs: [] }), /'x'/],
      [JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3, 4, 4], datatype: 'FP32', data: X }, { name: 'extra', shape: [1], datatype: 'FP32', data: [1] }] }), /'extra'/],
      [inferBody([...X, ...X.slice(0, 12)], [1, 3, 5, 4]), /5/],
      [inferBody(X.map(() => 'a')), /x/],
      ['{', /JSON/],
    ];
    for (const [body, message] of bad) {
      assertOipError(await infer('/v2/models/m/infer', body), 400, typeof message === 'string' ? undefined : message);
      assert.equal((await infer('/v2/models/m/infer', inferBody())).status, 200, `still serving after ${body.slice(0, 60)}`);
    }
    assertOipError(await call(`${server.inference}/v2/models/m/infer`), 405);
    assertOipError(await call(`${server.inference}/v2/health/live`, { method: 'POST' }), 405);
  });

  test('13: a version path is served by that version; an unknown version is 404', async () => {
    const expected = await direct(v2);
    const result = await infer('/v2/models/m/versions/2.0/infer', inferBody());
    assert.equal(result.status, 200, result.text);
    assert.equal(result.body.model_version, '2.0');
    (result.body.outputs[0].data as number[]).forEach((value, i) => assert.ok(Math.abs(value - expected.y[i]!) <= 1e-6));
    assertOipError(await infer('/v2/models/m/versions/9/infer', inferBody()), 404);
  });

  test('14, 15, 16: binary input gives item 7; binary outputs follow the JSON part, mixed with JSON ones', async () => {
    const jsonResult = await infer('/v2/models/m/infer', inferBody());
    const header = new TextEncoder().encode(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3, 4, 4], datatype: 'FP32', parameters: { binary_data_size: 192 } }] }));
    const tensor = new Uint8Array(Float32Array.from(X).buffer);
    const binaryIn = await infer('/v2/models/m/infer', Buffer.concat([header, tensor]), { 'inference-header-content-length': String(header.length), 'content-type': 'application/octet-stream' });
    assert.equal(binaryIn.status, 200, binaryIn.text);
    assert.deepEqual(binaryIn.body.outputs, jsonResult.body.outputs);

    const all = await fetch(`${server.inference}/v2/models/m/infer`, { method: 'POST', body: inferBody(X, [1, 3, 4, 4], { parameters: { binary_data_output: true } }) });
    assert.equal(all.status, 200);
    assert.equal(all.headers.get('content-type'), 'application/octet-stream');
    const bytes = new Uint8Array(await all.arrayBuffer());
    const { json, tail } = splitBinary(bytes, Number(all.headers.get('inference-header-content-length')));
    assert.deepEqual(json.outputs.map((o: OipOutput) => [o.name, o.parameters?.['binary_data_size'], o.data]), [['y', 40, undefined], ['z', 8, undefined]]);
    assert.equal(tail.length, 48);
    const tailCopy = tail.slice();
    assert.deepEqual(Array.from(new Float32Array(tailCopy.buffer, 0, 10)), jsonResult.body.outputs[0].data);
    assert.equal(Number(new BigInt64Array(tailCopy.buffer, 40, 1)[0]), jsonResult.body.outputs[1].data[0]);

    const mixed = await fetch(`${server.inference}/v2/models/m/infer`, { method: 'POST', body: inferBody(X, [1, 3, 4, 4], { outputs: [{ name: 'y', parameters: { binary_data: true } }, { name: 'z' }] }) });
    const mixedBytes = new Uint8Array(await mixed.arrayBuffer());
    const split = splitBinary(mixedBytes, Number(mixed.headers.get('inference-header-content-length')));
    assert.equal(split.json.outputs[0].parameters.binary_data_size, 40);
    assert.equal(split.json.outputs[0].data, undefined);
    assert.deepEqual(split.json.outputs[1].data, jsonResult.body.outputs[1].data);
    assert.equal(split.tail.length, 40);
  });

  test('17: bad binary framing is 400 each, and the server keeps serving', async () => {
    const header = (size: number, data?: boolean) =>
      new TextEncoder().encode(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3, 4, 4], datatype: 'FP32', parameters: { binary_data_size: size }, ...(data ? { data: X } : {}) }] }));
    const tail = new Uint8Array(192);
    const cases: [Uint8Array, string][] = [
      [Buffer.concat([header(191), tail]), String(header(191).length)],
      [Buffer.concat([header(193), tail]), String(header(193).length)],
      [Buffer.concat([header(192), tail]), String(10_000)],
      [Buffer.concat([header(192), tail]), 'abc'],
      [Buffer.concat([header(192, true), tail]), String(header(192, true).length)],
    ];
    for (const [body, length] of cases) {
      assertOipError(await infer('/v2/models/m/infer', body, { 'inference-header-content-length': length }), 400);
    }
    assert.equal((await infer('/v2/models/m/infer', inferBody())).status, 200);
  });

  test('18: a BYTES input gives the same answer as JSON and as binary', async () => {
    const asJson = await infer('/v2/models/strings/infer', JSON.stringify({ inputs: [{ name: 's', shape: [2], datatype: 'BYTES', data: ['ab', ''] }] }));
    assert.equal(asJson.status, 200, asJson.text);
    assert.deepEqual(asJson.body.outputs, [{ name: 't', datatype: 'BYTES', shape: [2], data: ['ab', ''] }]);
    const header = new TextEncoder().encode(JSON.stringify({ inputs: [{ name: 's', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: 10 } }] }));
    const tail = Uint8Array.of(2, 0, 0, 0, 0x61, 0x62, 0, 0, 0, 0);
    const asBinary = await infer('/v2/models/strings/infer', Buffer.concat([header, tail]), { 'inference-header-content-length': String(header.length) });
    assert.equal(asBinary.status, 200, asBinary.text);
    assert.deepEqual(asBinary.body.outputs, asJson.body.outputs);
  });

  test('19: a batch of 4 returns 4 rows; 32 concurrent requests each get their own rows', async () => {
    const expected = await direct(v1, 4);
    const batch = await infer('/v2/models/m/infer', inferBody(expected.data, [4, 3, 4, 4]));
    assert.equal(batch.status, 200, batch.text);
    assert.deepEqual(batch.body.outputs[0].shape, [4, 10]);
    assert.deepEqual(batch.body.outputs[1].data, expected.z);
    const rows = await Promise.all(
      Array.from({ length: 32 }, (_, k) => infer('/v2/models/m/infer', inferBody(X.map((v) => v + (k % 4)), [1, 3, 4, 4], { id: String(k) }))),
    );
    rows.forEach((result, k) => {
      assert.equal(result.status, 200, result.text);
      assert.equal(result.body.id, String(k));
      const y = result.body.outputs[0].data as number[];
      y.forEach((value, i) => assert.ok(Math.abs(value - expected.y[(k % 4) * 10 + i]!) <= 1e-5, `request ${k} y[${i}]`));
    });
  });

  test('a JSON body over 64 KiB (decoded off the event loop) gives a direct run\'s rows; a malformed one a precise 400', async () => {
    const expected = await direct(v1, 300);
    const body = inferBody(expected.data, [300, 3, 4, 4]);
    assert.ok(body.length > 64 * 1024, `${body.length} bytes`);
    const result = await infer('/v2/models/m/infer', body);
    assert.equal(result.status, 200, result.text.slice(0, 300));
    assert.deepEqual(result.body.outputs[1].data, expected.z);
    (result.body.outputs[0].data as number[]).forEach((value, i) => assert.ok(Math.abs(value - expected.y[i]!) <= 1e-5, `y[${i}]`));
    assertOipError(await infer('/v2/models/m/infer', inferBody(expected.data.slice(1), [300, 3, 4, 4])), 400, /^input 'x': 14399 values for shape \[300, 3, 4, 4\] \(14400 expected\)$/);
  });

  test('20: classification returns the top K as "<value>:<index>:<label>", highest first', async () => {
    const expected = await direct(v1);
    const result = await infer('/v2/models/m/infer', inferBody(X, [1, 3, 4, 4], { outputs: [{ name: 'y', parameters: { classification: 3 } }] }));
    assert.equal(result.status, 200, result.text);
    const [output] = result.body.outputs as OipOutput[];
    assert.equal(output!.datatype, 'BYTES');
    assert.deepEqual(output!.shape, [1, 3]);
    const top = expected.y.map((value, index) => ({ value, index })).sort((a, b) => b.value - a.value).slice(0, 3);
    assert.deepEqual(
      (output!.data as string[]).map((entry) => entry.split(':').slice(1)),
      top.map(({ index }) => [String(index), `class${index}`]),
    );
  });

  test('21, 22: an oversize body is 413, a model with no worker 503, another handler 400; still serving', async () => {
    // A raw socket: the server answers 413 from Content-Length and closes before the body comes.
    const raw = await new Promise<string>((resolve, reject) => {
      const url = new URL(server.inference);
      const socket = connect(Number(url.port), url.hostname, () => socket.write('POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n{'));
      let data = '';
      socket.on('data', (chunk) => (data += chunk.toString()));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
    });
    assert.equal(raw.split('\r\n')[0], 'HTTP/1.1 413 Payload Too Large');
    assert.deepEqual(Object.keys(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))), ['error']);
    assert.equal((await register('url=strings.mar&model_name=idle&initial_workers=0&synchronous=true')).status, 200);
    assertOipError(await infer('/v2/models/idle/infer', JSON.stringify({ inputs: [{ name: 's', shape: [1], datatype: 'BYTES', data: ['a'] }] })), 503);
    assertOipError(await infer('/v2/models/slow/infer', inferBody()), 400, /'[^']+' handler.*--handler tensor/);
    assert.equal((await infer('/v2/models/m/infer', inferBody())).status, 200);
  });

  test('OIP inferences count in ts_inference_requests_total, like TorchServe predictions', async () => {
    const metrics = await call(`${server.metrics}/metrics`);
    const line = metrics.text.split('\n').find((l) => l.startsWith('ts_inference_requests_total{') && l.includes('model_name="m"') && l.includes('model_version="2.0"'));
    assert.ok(line, metrics.text.slice(0, 400));
    assert.ok(Number(line.split(' ').at(-1)) >= 1);
  });
});

describe('Open Inference Protocol v2 (REST) with a small max_response_size', () => {
  test('a response over max_response_size is a 500 {"error"}, and the server keeps serving', async () => {
    const server = await startServer({ properties: ['max_response_size=300'] });
    try {
      await writeOipModelArchive(server.store, { name: 'm', version: '1.0', weights: W1 });
      assert.equal((await call(`${server.management}/models?url=m.mar&initial_workers=1&synchronous=true`, { method: 'POST' })).status, 200);
      const infer = (body: string) => call(`${server.inference}/v2/models/m/infer`, { method: 'POST', body });
      const large = await infer(inferBody(X, [1, 3, 4, 4]));
      assertOipError(large, 500, /larger than max_response_size \(300\)/);
      const small = await infer(inferBody(X, [1, 3, 4, 4], { outputs: [{ name: 'z' }] }));
      assert.equal(small.status, 200, small.text);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});
