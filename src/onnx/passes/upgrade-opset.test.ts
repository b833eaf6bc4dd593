import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeModel, makeNode, makeValueInfo } from '../build.js';
import { DataType } from '../dtype.js';
import type { GraphProto, ModelProto, NodeProto } from '../gen/onnx_pb.js';
import { opsetVersion } from '../graph.js';
import { encodeTensor } from '../tensor.js';
import { buildMobileNetV2 } from '../../../test/fixtures/mobilenet-v2.js';
import { findAttribute } from './attributes.js';
import { assertSameOutputs, kilnError, loadPpOcr, opCounts, snapshot } from '../../../test/fixtures/pass-harness.js';
import { upgradeOpset } from './upgrade-opset.js';

const F = DataType.FLOAT;

function model(opset: number, nodes: NodeProto[], inputs: [string, number[] | undefined][], outputs: string[], irVersion = 4): ModelProto {
  return makeModel({
    name: `opset-${opset}`,
    nodes,
    inputs: inputs.map(([name, shape]) => makeValueInfo(name, F, shape)),
    outputs: outputs.map((name) => makeValueInfo(name, F, undefined)),
    opset,
    irVersion,
  });
}

function inputsOf(result: ModelProto, opType: string): string[][] {
  return result.graph!.node.filter((node) => node.opType === opType).map((node) => [...node.input]);
}

describe('upgrade-opset: attributes that became inputs', () => {
  /** Every attribute-to-input change in one opset-9 graph over x [2, 3, 4, 5]. */
  const opset9 = model(
    9,
    [
      makeNode('Clip', ['x'], ['clipped'], { name: 'clip', attributes: { min: -0.5, max: 0.5 } }),
      makeNode('Clip', ['x'], ['relu6ish'], { name: 'clip_max_only', attributes: { max: 0.25 } }),
      makeNode('Slice', ['clipped'], ['sliced'], { name: 'slice', attributes: { starts: [0, 1], ends: [2, 3], axes: [1, 2] } }),
      makeNode('ReduceSum', ['sliced'], ['summed'], { name: 'reduce', attributes: { axes: [3], keepdims: 1 } }),
      makeNode('Squeeze', ['summed'], ['squeezed'], { name: 'squeeze', attributes: { axes: [3] } }),
      makeNode('Unsqueeze', ['squeezed'], ['unsqueezed'], { name: 'unsqueeze', attributes: { axes: [0] } }),
      makeNode('Split', ['unsqueezed'], ['part_a', 'part_b'], { name: 'split', attributes: { axis: 2, split: [1, 1] } }),
      makeNode('Pad', ['x'], ['padded'], { name: 'pad', attributes: { pads: [0, 0, 1, 2, 0, 0, 0, 1], value: 0.5 } }),
      makeNode('TopK', ['x'], ['top_values', 'top_indices'], { name: 'topk', attributes: { k: 2, axis: -1 } }),
      makeNode('Dropout', ['relu6ish'], ['dropped'], { name: 'dropout', attributes: { ratio: 0.3 } }),
    ],
    [['x', [2, 3, 4, 5]]],
    ['part_a', 'part_b', 'padded', 'top_values', 'dropped'],
  );

  it('moves Clip, Slice, ReduceSum, Squeeze, Unsqueeze, Split, Pad, TopK and Dropout attributes into inputs', async () => {
    const before = snapshot(opset9);
    const result = upgradeOpset(opset9);
    assert.equal(opsetVersion(result.model), 13);
    assert.ok(result.model.irVersion >= 7n);
    assert.equal(result.changes, 10);
    assert.match(result.notes!.join('\n'), /opset 9 → 13; converted Clip×2, Dropout×1, Pad×1, ReduceSum×1, Slice×1, Split×1, Squeeze×1, TopK×1, Unsqueeze×1/);
    for (const node of result.model.graph!.node) {
      const left = node.attribute.map((attribute) => attribute.name).filter((name) => ['min', 'max', 'starts', 'ends', 'axes', 'split', 'pads', 'value', 'k', 'ratio'].includes(name));
      assert.deepEqual(left, [], `${node.name} still has ${left.join(', ')}`);
    }
    assert.equal(inputsOf(result.model, 'Clip')[1]![1], '', 'a missing min becomes an omitted input');
    assert.equal(inputsOf(result.model, 'Slice')[0]!.length, 4);
    assert.equal(inputsOf(result.model, 'Pad')[0]!.length, 3);
    assert.deepEqual(snapshot(opset9), before, 'the input model was mutated');
    await assertSameOutputs(opset9, result.model);
  });

  it('stops at a lower target and converts only the changes up to it', async () => {
    const result = upgradeOpset(opset9, 11);
    assert.equal(opsetVersion(result.model), 11);
    const squeeze = result.model.graph!.node.find((node) => node.name === 'squeeze')!;
    assert.ok(findAttribute(squeeze, 'axes'), 'Squeeze keeps its axes attribute below opset 13');
    assert.equal(inputsOf(result.model, 'Slice')[0]!.length, 4);
    await assertSameOutputs(opset9, result.model);
  });

  it('drops BatchNormalization spatial=1 and renames Scatter, converting inside subgraphs too', async () => {
    const branch = (name: string, bound: number): GraphProto =>
      makeModel({
        name,
        nodes: [makeNode('Clip', ['x'], [`${name}_y`], { name: `${name}_clip`, attributes: { min: -bound, max: bound } })],
        inputs: [],
        outputs: [makeValueInfo(`${name}_y`, F, [1, 2, 2, 2])],
      }).graph!;
    const scalar = (name: string, values: number[], dataType = F) =>
      encodeTensor({ name, dataType, dims: [values.length], data: dataType === F ? Float32Array.from(values) : BigInt64Array.from(values, BigInt) });
    const source = makeModel({
      name: 'opset-8',
      nodes: [
        makeNode('BatchNormalization', ['x', 'gamma', 'beta', 'mean', 'var'], ['bn'], { name: 'bn', attributes: { spatial: 1, epsilon: 1e-5 } }),
        makeNode('If', ['cond'], ['branched'], { name: 'if', attributes: { then_branch: branch('then', 0.1), else_branch: branch('else', 0.2) } }),
      ],
      inputs: [makeValueInfo('x', F, [1, 2, 2, 2]), makeValueInfo('cond', DataType.BOOL, [])],
      outputs: [makeValueInfo('bn', F, [1, 2, 2, 2]), makeValueInfo('branched', F, [1, 2, 2, 2])],
      initializers: [scalar('gamma', [1.5, 0.5]), scalar('beta', [0.1, -0.1]), scalar('mean', [0.2, -0.3]), scalar('var', [0.5, 2])],
      opset: 8,
      irVersion: 3,
    });
    const result = upgradeOpset(source);
    assert.equal(findAttribute(result.model.graph!.node[0]!, 'spatial'), undefined);
    const thenBranch = findAttribute(result.model.graph!.node[1]!, 'then_branch')!.g!;
    assert.equal(thenBranch.node[0]!.input.length, 3, 'the Clip inside the If body takes min and max inputs');
    await assertSameOutputs(source, result.model);

    const scatter = model(9, [makeNode('Scatter', ['data', 'indices', 'updates'], ['y'], { name: 'scatter', attributes: { axis: 1 } })], [['data', [2, 3]], ['updates', [2, 1]]], ['y']);
    scatter.graph!.initializer.push(encodeTensor({ name: 'indices', dataType: DataType.INT64, dims: [2, 1], data: BigInt64Array.of(2n, 0n) }));
    const scattered = upgradeOpset(scatter);
    assert.deepEqual([...opCounts(scattered.model).keys()], ['ScatterElements']);
    await assertSameOutputs(scatter, scattered.model);
  });

  it('passes a model at or above the target through untouched', () => {
    const mobilenet = buildMobileNetV2({ resolution: 32, numClasses: 4, widthMultiplier: 0.25 });
    const result = upgradeOpset(mobilenet);
    assert.equal(result.model, mobilenet);
    assert.equal(result.changes, 0);
  });

  it('upgrades the PP-OCR classifier and recognizer (opset 9) without a Flatten rewrite for their last-axis Softmax', () => {
    for (const id of ['cls', 'rec'] as const) {
      const result = upgradeOpset(loadPpOcr(id));
      assert.equal(opsetVersion(result.model), 13);
      assert.equal(opCounts(result.model).get('Flatten'), undefined, `${id}: every Softmax works on its last axis`);
      for (const softmax of result.model.graph!.node.filter((node) => node.opType === 'Softmax')) {
        assert.equal(Number(findAttribute(softmax, 'axis')!.i), -1);
      }
    }
  });
});

describe('upgrade-opset: refusals', () => {
  it('refuses a model below opset 7 as too old', () => {
    const old = model(6, [makeNode('Relu', ['x'], ['y'])], [['x', [2]]], ['y']);
    assert.throws(() => upgradeOpset(old), kilnError('KILN_ONNX_OPSET_UNSUPPORTED', /opset 6/, /too old/));
  });

  it('refuses an op whose change it does not convert, naming op, node and versions', () => {
    const scan = model(8, [makeNode('Scan', ['', 'x'], ['y'], { name: 'scan_node', attributes: { num_scan_inputs: 1 } })], [['x', [1, 2]]], ['y']);
    assert.throws(() => upgradeOpset(scan), kilnError('KILN_ONNX_OPSET_UNSUPPORTED', /Scan/, /'scan_node'/, /opset 8 to 13/, /changed at opset 9/));
  });

  it('refuses what it cannot express at the new opset', () => {
    const cases: [ModelProto, RegExp][] = [
      [model(8, [makeNode('BatchNormalization', ['x', 'g', 'b', 'm', 'v'], ['y'], { name: 'bn', attributes: { spatial: 0 } })], [['x', [1, 2]]], ['y']), /spatial=0/],
      [model(9, [makeNode('Dropout', ['x'], ['y', 'mask'], { name: 'drop' }), makeNode('Mul', ['y', 'mask'], ['z'])], [['x', [2]]], ['z']), /mask/],
      [model(10, [makeNode('Resize', ['x', 's'], ['y'], { name: 'resize' })], [['x', [1, 1, 2, 2]], ['s', [4]]], ['y']), /not constant/],
      [model(12, [makeNode('Resize', ['x', 'r', 's'], ['y'], { name: 'rs', attributes: { coordinate_transformation_mode: 'tf_half_pixel_for_nn' } })], [['x', [1, 1, 2, 2]]], ['y']), /tf_half_pixel_for_nn/],
      [model(9, [makeNode('Foo', ['x'], ['y'], { name: 'foo' })], [['x', [2]]], ['y']), /not an ai.onnx operator/],
      [model(9, [makeNode('Resize', ['x'], ['y'], { name: 'early' })], [['x', [2]]], ['y']), /does not exist at opset 9/],
    ];
    for (const [source, pattern] of cases) assert.throws(() => upgradeOpset(source), kilnError('KILN_ONNX_OPSET_UNSUPPORTED', pattern));
  });

  it('rejects a target outside 7 to 13', () => {
    const source = model(9, [makeNode('Relu', ['x'], ['y'])], [['x', [2]]], ['y']);
    assert.throws(() => upgradeOpset(source, 14), kilnError('KILN_CORE_INVALID_ARGUMENT', /opset 14/));
  });
});
