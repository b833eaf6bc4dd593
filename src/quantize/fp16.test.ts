import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../core/random.js';
import { isKilnError } from '../core/errors.js';
import { DataType, encodeModel, encodeTensor, makeModel, makeNode, makeValueInfo, valueTypeOf } from '../onnx/index.js';
import { Engine } from '../runtime/index.js';
import { convertToFloat16 } from './fp16.js';
import { quantizeDynamic } from './dynamic.js';

const random = seededRandom(9);
const values = (count: number, scale = 0.3) => Float32Array.from({ length: count }, () => (random() * 2 - 1) * scale);

/**
 * x [1,3,8,8] → Conv (W, B) → BatchNormalization (running variance 1e6: past float16's range
 * until folded) → Relu → Resize ×2 (float-only `scales`) → Max(r, r) (block-listed) → y.
 */
function cnn() {
  return makeModel({
    name: 'cnn',
    nodes: [
      makeNode('Conv', ['x', 'W', 'B'], ['c'], { name: 'conv', attributes: { pads: [1, 1, 1, 1] } }),
      makeNode('BatchNormalization', ['c', 'gamma', 'beta', 'mean', 'var'], ['n'], { name: 'bn' }),
      makeNode('Relu', ['n'], ['a'], { name: 'relu' }),
      makeNode('Resize', ['a', '', 'scales'], ['r'], { name: 'resize', attributes: { mode: 'nearest' } }),
      makeNode('Max', ['r', 'r'], ['y'], { name: 'max' }),
    ],
    inputs: [makeValueInfo('x', DataType.FLOAT, [1, 3, 8, 8])],
    outputs: [makeValueInfo('y', DataType.FLOAT, [1, 4, 16, 16])],
    initializers: [
      encodeTensor({ name: 'W', dataType: DataType.FLOAT, dims: [4, 3, 3, 3], data: values(108) }),
      encodeTensor({ name: 'B', dataType: DataType.FLOAT, dims: [4], data: values(4) }),
      encodeTensor({ name: 'gamma', dataType: DataType.FLOAT, dims: [4], data: Float32Array.of(1, 2, 0.5, 1) }),
      encodeTensor({ name: 'beta', dataType: DataType.FLOAT, dims: [4], data: values(4) }),
      encodeTensor({ name: 'mean', dataType: DataType.FLOAT, dims: [4], data: values(4) }),
      encodeTensor({ name: 'var', dataType: DataType.FLOAT, dims: [4], data: Float32Array.of(1e6, 4e6, 0.5, 1) }),
      encodeTensor({ name: 'scales', dataType: DataType.FLOAT, dims: [4], data: Float32Array.of(1, 1, 2, 2) }),
    ],
  });
}

describe('convertToFloat16', () => {
  it('converts weights and activations to float16, keeps float32 IO, Resize scales and block-listed ops, and stays close to float', async () => {
    const model = cnn();
    const { model: half, report } = await convertToFloat16(model);
    const graph = half.graph!;
    assert.equal(valueTypeOf(graph.input[0]!)!.dataType, DataType.FLOAT);
    assert.equal(valueTypeOf(graph.output[0]!)!.dataType, DataType.FLOAT);
    const types = new Map(graph.initializer.map((tensor) => [tensor.name, tensor.dataType]));
    assert.equal(types.get('scales'), DataType.FLOAT, 'Resize scales stay float32');
    assert.ok([...types.values()].filter((type) => type === DataType.FLOAT16).length >= 2, 'the folded Conv weight and bias are float16');
    assert.deepEqual(report.blockedNodes, [{ name: 'max', opType: 'Max', reason: 'op kept in float32 (block list)' }]);
    const max = graph.node.find((node) => node.opType === 'Max')!;
    for (const input of max.input) assert.equal(graph.node.find((node) => node.output.includes(input))?.opType, 'Cast', 'Max reads float32 through a Cast');
    assert.ok(!graph.node.some((node) => node.opType === 'BatchNormalization'), 'BatchNorm folded before the conversion');

    const x = values(3 * 64, 1);
    const [float, converted] = [await Engine.load(encodeModel(model)), await Engine.load(encodeModel(half))];
    const expected = (await float.run({ x: { type: 'float32', dims: [1, 3, 8, 8], data: x } }))['y']!.data as Float32Array;
    const actual = (await converted.run({ x: { type: 'float32', dims: [1, 3, 8, 8], data: x } }))['y']!;
    await float.release();
    await converted.release();
    assert.equal(actual.type, 'float32');
    let signal = 0;
    let noise = 0;
    expected.forEach((value, index) => {
      signal += value * value;
      noise += (value - (actual.data as Float32Array)[index]!) ** 2;
    });
    assert.ok(10 * Math.log10(signal / noise) > 40, `SQNR ${10 * Math.log10(signal / noise)}`);
  });

  it('clamps weights into float16 range and counts them; blocks named nodes', async () => {
    const model = cnn();
    const weight = model.graph!.initializer.find((tensor) => tensor.name === 'W')!;
    const big = values(108);
    big[0] = 1e6;
    big[1] = 1e-9;
    model.graph!.initializer[model.graph!.initializer.indexOf(weight)] = encodeTensor({ name: 'W', dataType: DataType.FLOAT, dims: [4, 3, 3, 3], data: big });
    const { report } = await convertToFloat16(model, { blockNodes: ['relu'] });
    assert.ok(report.clampedValues >= 1, String(report.clampedValues));
    assert.ok(report.blockedNodes.some((node) => node.name === 'relu' && node.reason === 'blocked by name'));
  });

  it('refuses a quantized model, an unknown node to block, and a model with nothing in float32', async () => {
    const mlp = makeModel({
      name: 'mlp',
      nodes: [makeNode('MatMul', ['x', 'W'], ['y'], { name: 'fc' })],
      inputs: [makeValueInfo('x', DataType.FLOAT, ['N', 8])],
      outputs: [makeValueInfo('y', DataType.FLOAT, ['N', 4])],
      initializers: [encodeTensor({ name: 'W', dataType: DataType.FLOAT, dims: [8, 4], data: values(32) })],
    });
    await assert.rejects(convertToFloat16(quantizeDynamic(mlp).model), (error) => isKilnError(error, 'KILN_QUANTIZE_ALREADY_QUANTIZED'));
    await assert.rejects(convertToFloat16(cnn(), { blockNodes: ['nope'] }), /no node named 'nope'/);
    const ints = makeModel({ name: 'ints', nodes: [makeNode('Neg', ['x'], ['y'])], inputs: [makeValueInfo('x', DataType.INT32, [2])], outputs: [makeValueInfo('y', DataType.INT32, [2])] });
    await assert.rejects(convertToFloat16(ints), /no float32 tensor to convert/);
  });
});
