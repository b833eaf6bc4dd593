import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { seededRandom } from '../core/random.js';
import { isKilnError } from '../core/errors.js';
import { DataType, encodeModel, encodeTensor, makeModel, makeNode, makeValueInfo } from '../onnx/index.js';
import { Engine } from '../runtime/index.js';
import { quantizeDynamic } from './dynamic.js';
import { checkFusion } from './fusion-check.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-dynamic-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const random = seededRandom(5);
const weights = (count: number) => Float32Array.from({ length: count }, () => (random() * 2 - 1) * 0.2);

/**
 * x [N,64] → fc1 = MatMul(x, W1 [64,128]) and side = MatMul(x, W3 [64,128]) (both read x) →
 * Add → Relu → fc2 = Gemm(a, W2 [10,128], b2, transB=1) → y [N,10]; plus attn = MatMul(a, a^T)
 * (activation × activation, stays float) → z [N,N].
 */
function mlp() {
  return makeModel({
    name: 'mlp',
    nodes: [
      makeNode('MatMul', ['x', 'W1'], ['h1'], { name: 'fc1' }),
      makeNode('MatMul', ['x', 'W3'], ['h3'], { name: 'side' }),
      makeNode('Add', ['h1', 'h3'], ['h'], { name: 'add' }),
      makeNode('Relu', ['h'], ['a'], { name: 'relu' }),
      makeNode('Gemm', ['a', 'W2', 'b2'], ['y'], { name: 'fc2', attributes: { transB: 1 } }),
      makeNode('Transpose', ['a'], ['aT'], { name: 'transpose' }),
      makeNode('MatMul', ['a', 'aT'], ['z'], { name: 'attn' }),
    ],
    inputs: [makeValueInfo('x', DataType.FLOAT, ['N', 64])],
    outputs: [makeValueInfo('y', DataType.FLOAT, ['N', 10]), makeValueInfo('z', DataType.FLOAT, ['N', 'N'])],
    initializers: [
      encodeTensor({ name: 'W1', dataType: DataType.FLOAT, dims: [64, 128], data: weights(64 * 128) }),
      encodeTensor({ name: 'W3', dataType: DataType.FLOAT, dims: [64, 128], data: weights(64 * 128) }),
      encodeTensor({ name: 'W2', dataType: DataType.FLOAT, dims: [10, 128], data: weights(1280) }),
      encodeTensor({ name: 'b2', dataType: DataType.FLOAT, dims: [10], data: weights(10) }),
    ],
  });
}

function sqnrDb(reference: Float32Array, test: Float32Array): number {
  let signal = 0;
  let noise = 0;
  reference.forEach((value, index) => {
    signal += value * value;
    noise += (value - test[index]!) ** 2;
  });
  return 10 * Math.log10(signal / noise);
}

describe('quantizeDynamic', () => {
  it('turns MatMul and Gemm with constant weights into DynamicQuantizeMatMul, close to float, and leaves activation × activation alone', async () => {
    const model = mlp();
    const { model: quantized, report } = quantizeDynamic(model);
    assert.deepEqual(report.quantizedNodes.map((node) => node.name).sort(), ['fc1', 'fc2', 'side']);
    assert.deepEqual(report.skippedNodes, [{ name: 'attn', opType: 'MatMul', reason: 'its weight is not a constant (activation × activation)' }]);
    const ops = quantized.graph!.node.map((node) => node.opType);
    // fc1 and side read the same activation: one DynamicQuantizeLinear serves both.
    assert.equal(ops.filter((op) => op === 'DynamicQuantizeLinear').length, 2);
    assert.equal(ops.filter((op) => op === 'MatMulInteger').length, 3);
    assert.deepEqual(quantized.graph!.initializer.map((tensor) => tensor.name).filter((name) => /^W\d$/.test(name)), [], 'float weights are gone');
    for (const sqnr of report.weightSqnr.values()) assert.ok(sqnr > 40, `weight SQNR ${sqnr}`);

    const path = join(dir, 'mlp.dynamic.onnx');
    writeFileSync(path, encodeModel(quantized));
    const fusion = await checkFusion(path, report.quantizedNodes);
    assert.deepEqual(fusion.compute, { asked: 3, fused: 3 });
    // fc2 fuses whole; the shared quantization of x stays one node that both MatMulIntegerToFloat read.
    assert.deepEqual(fusion.integerKernels, { DynamicQuantizeLinear: 1, DynamicQuantizeMatMul: 1, MatMulIntegerToFloat: 2 });

    const x = Float32Array.from({ length: 4 * 64 }, () => random() * 2 - 1);
    const [float, dynamic] = [await Engine.load(encodeModel(model)), await Engine.load(path)];
    const expected = await float.run({ x: { type: 'float32', dims: [4, 64], data: x } });
    const actual = await dynamic.run({ x: { type: 'float32', dims: [4, 64], data: x } });
    await float.release();
    await dynamic.release();
    assert.ok(sqnrDb(expected['y']!.data as Float32Array, actual['y']!.data as Float32Array) > 30);
    assert.ok(sqnrDb(expected['z']!.data as Float32Array, actual['z']!.data as Float32Array) > 30);
  });

  it('per tensor gives one scale per weight; excluded nodes and Gemm with transA stay float', () => {
    const { model: perTensor } = quantizeDynamic(mlp(), { perChannel: false });
    const scales = perTensor.graph!.initializer.filter((tensor) => tensor.name.endsWith('_W_scale'));
    assert.equal(scales.length, 3);
    assert.ok(scales.every((tensor) => tensor.dims.length === 0));
    const { report } = quantizeDynamic(mlp(), { excludeNodes: ['fc2'] });
    assert.ok(report.skippedNodes.some((node) => node.name === 'fc2' && node.reason === 'excluded'));
    const transposed = mlp();
    transposed.graph!.node[4]!.attribute.push(...makeNode('Gemm', [], [], { attributes: { transA: 1 } }).attribute);
    assert.ok(quantizeDynamic(transposed).report.skippedNodes.some((node) => node.name === 'fc2' && node.reason === 'Gemm with transA'));
  });

  it('refuses a model that is already quantized, and an excluded node that does not exist', () => {
    const { model: once } = quantizeDynamic(mlp());
    assert.throws(() => quantizeDynamic(once), (error) => isKilnError(error, 'KILN_QUANTIZE_ALREADY_QUANTIZED'));
    assert.throws(() => quantizeDynamic(mlp(), { excludeNodes: ['nope'] }), /no node named 'nope' to exclude/);
  });
});
