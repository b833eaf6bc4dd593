import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeNpy } from '../../../test/fixtures/npy.js';
import { createManifest } from '../../archive/manifest.js';
import { httpStatusOf, KilnError } from '../../core/errors.js';
import { silentLogger } from '../../core/log.js';
import { DataType, encodeModel, makeModel, makeNode, makeValueInfo, type Dim } from '../../onnx/index.js';
import { BatchContext, type ModelContextInit, type RequestMeta } from '../context.js';
import type { Handler, RequestInput } from '../types.js';
import { decodeTensorBundle } from '../tensor-bundle.js';
import { DECODED_TENSORS } from '../tensor-request.js';
import { tensorHandler } from './tensor.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-tensor-handler-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** y = op(x) on float x of shape `inShape`, y declared `outShape`, written to `<dir>/<name>.onnx`. */
function writeModel(name: string, op: string, inShape: Dim[], outShape: Dim[]): string {
  const path = join(dir, `${name}.onnx`);
  const model = makeModel({ name, nodes: [makeNode(op, ['x'], ['y'])], inputs: [makeValueInfo('x', DataType.FLOAT, inShape)], outputs: [makeValueInfo('y', DataType.FLOAT, outShape)] });
  writeFileSync(path, encodeModel(model));
  return path;
}

function modelContext(modelPath: string, handlerConfig: Record<string, unknown> = {}): ModelContextInit {
  return {
    manifest: createManifest({ modelName: 'm', modelVersion: '1.0', handler: 'tensor' }),
    modelDir: dir,
    modelPath,
    modelYamlConfig: { handler: handlerConfig },
    systemProperties: { model_dir: dir, gpu_id: null, batch_size: 8, server_name: 'kiln', server_version: '0', limit_max_image_pixels: true },
    logger: silentLogger(),
  };
}

async function load(model: ModelContextInit): Promise<(requests: readonly (RequestInput & { meta?: RequestMeta })[]) => Promise<readonly unknown[]>> {
  const handler: Handler = tensorHandler();
  handlers.push(handler);
  await handler.initialize(new BatchContext(model, []));
  return (requests) => handler.handle(requests, new BatchContext(model, requests.map((request) => request.meta ?? {})));
}

const handlers: Handler[] = [];
after(async () => {
  for (const handler of handlers) await handler.close?.();
});

const npy = (dims: number[], values: number[]) => ({ body: new Uint8Array(encodeNpy('<f4', dims, Float32Array.from(values))) });
const json = (dims: number[], data: number[]) => ({ body: { inputs: { x: { dims, data } } } });
const output = (dims: number[], data: number[]) => ({ outputs: { y: { dims, type: 'float32', data } } });

/** The request at `index` failed alone (its error is its result) and passes `check`; the others did not fail. */
async function failsAt(results: Promise<readonly unknown[]>, index: number, check: (error: unknown) => boolean): Promise<void> {
  const settled = await results;
  assert.ok(check(settled[index]), `request ${index}: ${String(settled[index])}`);
  settled.forEach((result, other) => {
    if (other !== index) assert.ok(!(result instanceof Error), `request ${other} failed too: ${String(result)}`);
  });
}

function inputInvalid(index: number, pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof KilnError, String(error));
    assert.equal(error.code, 'KILN_HANDLER_INPUT_INVALID');
    assert.equal(httpStatusOf(error), 400);
    assert.equal(error.details['requestIndex'], index);
    assert.match(error.message, new RegExp(`^request ${index}`));
    assert.match(error.message, pattern);
    return true;
  };
}

describe('tensor handler', () => {
  let neg: Awaited<ReturnType<typeof load>>;
  before(async () => {
    neg = await load(modelContext(writeModel('neg', 'Neg', ['N', 3], ['N', 3])));
  });

  it('reads a .npy body (found by its magic bytes, or by Content-Type application/x-npy)', async () => {
    assert.deepEqual(await neg([npy([1, 3], [1, -2, 3.5])]), [output([1, 3], [-1, 2, -3.5])]);
    const typed = { ...npy([1, 3], [4, 5, 6]), meta: { headers: { 'Content-Type': 'application/x-npy; charset=binary' } } };
    assert.deepEqual(await neg([typed]), [output([1, 3], [-4, -5, -6])]);
    // NumPy's default float64 is narrowed to the model's float32.
    const f8 = { body: new Uint8Array(encodeNpy('<f8', [1, 3], Float64Array.of(0.5, 0, -1))) };
    assert.deepEqual(await neg([f8]), [output([1, 3], [-0.5, -0, 1])]);
  });

  it('takes tensors a transport already decoded (DECODED_TENSORS), stacks them, checks them, and answers with a bundle', async () => {
    const decoded = (data: number[]) => ({ [DECODED_TENSORS]: { x: { type: 'float32', dims: [1, 3], data: Float32Array.from(data) } } });
    const [first, second] = await neg([decoded([1, 2, 3]), npy([1, 3], [4, 5, 6])]);
    assert.ok(first instanceof Uint8Array);
    assert.deepEqual(decodeTensorBundle(first), { y: { type: 'float32', dims: [1, 3], data: Float32Array.of(-1, -2, -3) } });
    assert.deepEqual(second, output([1, 3], [-4, -5, -6]));
    const wrongType = { [DECODED_TENSORS]: { x: { type: 'int32', dims: [1, 3], data: Int32Array.of(1, 2, 3) } } };
    await failsAt(neg([decoded([1, 2, 3]), wrongType]), 1, inputInvalid(1, /int32/));
    // A multipart field of that name is bytes, not tensors: it is read as any other body would be.
    await failsAt(neg([{ [DECODED_TENSORS]: new Uint8Array(3) }]), 0, inputInvalid(0, /expected \{"inputs"/));
  });

  it('stacks a batch of .npy and JSON requests along axis 0 and gives each its own rows', async () => {
    const results = await neg([npy([1, 3], [1, 2, 3]), json([2, 3], [4, 5, 6, 7, 8, 9]), npy([1, 3], [10, 11, 12]), json([1, 3], [0, 0, 1])]);
    assert.deepEqual(results, [output([1, 3], [-1, -2, -3]), output([2, 3], [-4, -5, -6, -7, -8, -9]), output([1, 3], [-10, -11, -12]), output([1, 3], [-0, -0, -1])]);
  });

  it('refuses a corrupt .npy with a 400 naming the request', async () => {
    const truncated = { body: npy([2, 3], [1, 2, 3, 4, 5, 6]).body.subarray(0, 148) };
    await failsAt(neg([npy([1, 3], [1, 2, 3]), truncated]), 1, inputInvalid(1, /\(\.npy body\): holds 20 data bytes, but shape \(2, 3\) of <f4 needs 24/));
    const notNpy = { body: new TextEncoder().encode('{"inputs": {}}'), meta: { headers: { 'content-type': 'application/x-npy' } } };
    await failsAt(neg([notNpy]), 0, inputInvalid(0, /is not a NumPy \.npy file \(bad magic bytes\)/));
    const fortran = { body: new Uint8Array(encodeNpy('<f4', [1, 3], new Float32Array(3), { fortran: true })) };
    await failsAt(neg([fortran]), 0, inputInvalid(0, /Fortran order/));
  });

  it('refuses a wrong shape or type with a 400 naming the request and the model\'s shape', async () => {
    await failsAt(neg([npy([1, 3], [1, 2, 3]), npy([1, 4], [1, 2, 3, 4])]), 1, inputInvalid(1, /input 'x' has 4 at axis 1, the model wants 3/));
    await failsAt(neg([npy([3], [1, 2, 3])]), 0, inputInvalid(0, /input 'x' has shape \[3\], the model wants rank 2 \[N, 3\]/));
    const int32 = { body: new Uint8Array(encodeNpy('<i4', [1, 3], Int32Array.of(1, 2, 3))) };
    await failsAt(neg([int32]), 0, inputInvalid(0, /input 'x' is int32, the model wants float32/));
    await failsAt(neg([{ body: new TextEncoder().encode('nonsense') }]), 0, inputInvalid(0, /body is not JSON \(nor a \.npy file\)/));
  });

  it('runs requests one by one when the output does not keep the stacked rows, or the model has no batch axis', async () => {
    // ReduceSum over all axes: declared ['M', 1], but stacking 2 requests would give 1 row, not 2.
    const sum = await load(modelContext(writeModel('sum', 'ReduceSum', ['N', 3], ['M', 1])));
    assert.deepEqual(await sum([npy([1, 3], [1, 2, 3]), npy([1, 3], [10, 20, 30])]), [output([1, 1], [6]), output([1, 1], [60])]);
    const fixed = await load(modelContext(writeModel('fixed', 'Neg', [1, 3], [1, 3])));
    assert.deepEqual(await fixed([json([1, 3], [1, 2, 3]), npy([1, 3], [4, 5, 6])]), [output([1, 3], [-1, -2, -3]), output([1, 3], [-4, -5, -6])]);
  });

  it('refuses a .npy body for a model with several inputs, and a bad handler config', async () => {
    const path = join(dir, 'add.onnx');
    const inputs = ['a', 'b'].map((name) => makeValueInfo(name, DataType.FLOAT, ['N', 3]));
    writeFileSync(path, encodeModel(makeModel({ name: 'add', nodes: [makeNode('Add', ['a', 'b'], ['y'])], inputs, outputs: [makeValueInfo('y', DataType.FLOAT, ['N', 3])] })));
    const add = await load(modelContext(path));
    await failsAt(add([npy([1, 3], [1, 2, 3])]), 0, inputInvalid(0, /a \.npy body feeds a model with one input; this one has 2 \(a, b\)/));
    const handler = tensorHandler();
    await assert.rejects(handler.initialize(new BatchContext(modelContext(path, { threads: -1 }), [])), (error: unknown) => error instanceof KilnError && error.code === 'KILN_HANDLER_LOAD_FAILED' && /threads/.test(error.message));
  });
});
