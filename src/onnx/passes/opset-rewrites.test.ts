import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeModel, makeNode, makeValueInfo } from '../build.js';
import { DataType } from '../dtype.js';
import type { ModelProto, NodeProto } from '../gen/onnx_pb.js';
import { encodeTensor } from '../tensor.js';
import { stringAttribute } from './attributes.js';
import { assertSameOutputs, opCounts } from '../../../test/fixtures/pass-harness.js';
import { upgradeOpset } from './upgrade-opset.js';

const F = DataType.FLOAT;

function model(opset: number, nodes: NodeProto[], inputs: [string, number[] | undefined][], outputs: string[], scales: Record<string, number[]> = {}): ModelProto {
  return makeModel({
    name: `rewrites-${opset}`,
    nodes,
    inputs: inputs.map(([name, shape]) => makeValueInfo(name, F, shape)),
    outputs: outputs.map((name) => makeValueInfo(name, F, undefined)),
    initializers: Object.entries(scales).map(([name, values]) => encodeTensor({ name, dataType: F, dims: [values.length], data: Float32Array.from(values) })),
    opset,
    irVersion: 5,
  });
}

function float32(dims: number[], seed: number): Float32Array {
  return Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, index) => Math.sin(index * 12.9898 + seed) * 3);
}

describe('upgrade-opset: Softmax, LogSoftmax and Hardmax at opset 13', () => {
  const x = [2, 3, 4, 5];
  const source = model(
    11,
    [
      makeNode('Softmax', ['x'], ['default_axis'], { name: 'softmax_default' }),
      makeNode('LogSoftmax', ['x'], ['axis2'], { name: 'log_softmax_2', attributes: { axis: 2 } }),
      makeNode('Hardmax', ['x'], ['negative'], { name: 'hardmax_neg', attributes: { axis: -2 } }),
      makeNode('Softmax', ['x'], ['last'], { name: 'softmax_last', attributes: { axis: 3 } }),
      makeNode('Softmax', ['u'], ['unknown_rank'], { name: 'softmax_unknown', attributes: { axis: 1 } }),
    ],
    [['x', x], ['u', undefined]],
    ['default_axis', 'axis2', 'negative', 'last', 'unknown_rank'],
  );

  it('keeps a last-axis op and rebuilds the 2-D coercion for any other axis or an unknown rank', async () => {
    const result = upgradeOpset(source);
    const counts = opCounts(result.model);
    // Four of the five need Shape → Flatten → op → Reshape; the last-axis Softmax stays alone.
    assert.equal(counts.get('Flatten'), 4);
    assert.equal(counts.get('Reshape'), 4);
    assert.equal(counts.get('Shape'), 4);
    const last = result.model.graph!.node.find((node) => node.name === 'softmax_last')!;
    assert.deepEqual([...last.input], ['x']);
    assert.deepEqual(result.model.graph!.output.map((output) => output.name), source.graph!.output.map((output) => output.name));
    const feeds = {
      x: { type: 'float32' as const, dims: x, data: float32(x, 1) },
      u: { type: 'float32' as const, dims: [3, 2, 4], data: float32([3, 2, 4], 2) },
    };
    await assertSameOutputs(source, result.model, feeds);
  });
});

describe('upgrade-opset: Upsample and Resize-10 become Resize-13', () => {
  it('reproduces opset-10 nearest rounding: floor when enlarging, ceil when shrinking, both for mixed scales', async () => {
    const source = model(
      10,
      [
        makeNode('Resize', ['x', 'up'], ['y_up'], { name: 'up', attributes: { mode: 'nearest' } }),
        makeNode('Resize', ['x', 'down'], ['y_down'], { name: 'down', attributes: { mode: 'nearest' } }),
        makeNode('Resize', ['x', 'mixed'], ['y_mixed'], { name: 'mixed' }),
        makeNode('Resize', ['x', 'mixed'], ['y_linear'], { name: 'linear', attributes: { mode: 'linear' } }),
      ],
      [['x', [1, 2, 7, 9]]],
      ['y_up', 'y_down', 'y_mixed', 'y_linear'],
      { up: [1, 1, 2, 1.7], down: [1, 1, 0.6, 0.45], mixed: [1, 1, 0.6, 1.7] },
    );
    const result = upgradeOpset(source);
    const resizes = result.model.graph!.node.filter((node) => node.opType === 'Resize');
    assert.equal(resizes.length, 5, 'the mixed nearest resize becomes two');
    for (const node of resizes) assert.equal(stringAttribute(node, 'coordinate_transformation_mode'), 'asymmetric');
    assert.deepEqual(
      resizes.filter((node) => stringAttribute(node, 'mode', 'nearest') === 'nearest').map((node) => stringAttribute(node, 'nearest_mode')),
      ['floor', 'ceil', 'ceil', 'floor'],
    );
    await assertSameOutputs(source, result.model);
  });

  it('turns Upsample-7 (scales attribute) and Upsample-9 (scales input) into Resize', async () => {
    const seven = model(8, [makeNode('Upsample', ['x'], ['y'], { attributes: { mode: 'nearest', scales: { type: 'floats', value: [1, 1, 2, 3] } } })], [['x', [1, 2, 3, 4]]], ['y']);
    const nine = model(9, [makeNode('Upsample', ['x', 's'], ['y'], { attributes: { mode: 'linear' } })], [['x', [1, 2, 3, 4]]], ['y'], { s: [1, 1, 2, 1.5] });
    for (const source of [seven, nine]) {
      const result = upgradeOpset(source);
      assert.deepEqual([...opCounts(result.model).keys()], ['Resize']);
      await assertSameOutputs(source, result.model);
    }
  });
});
