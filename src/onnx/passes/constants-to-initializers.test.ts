import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeModel, makeNode, makeValueInfo } from '../build.js';
import { DataType } from '../dtype.js';
import type { GraphProto, ModelProto } from '../gen/onnx_pb.js';
import { decodeTensor, encodeTensor } from '../tensor.js';
import { constantsToInitializers } from './constants-to-initializers.js';
import { assertSameOutputs, loadPpOcr, opCounts, snapshot } from '../../../test/fixtures/pass-harness.js';

const F = DataType.FLOAT;

/** x [2, 3] scaled, shifted and reshaped by constants given in each attribute form. */
function constantsModel(): ModelProto {
  const weights = encodeTensor({ name: 'ignored', dataType: F, dims: [3], data: Float32Array.of(0.5, -2, 3) });
  return makeModel({
    name: 'constants',
    nodes: [
      makeNode('Constant', [], ['w'], { name: 'c_tensor', attributes: { value: weights } }),
      makeNode('Constant', [], ['s'], { name: 'c_float', attributes: { value_float: { type: 'float', value: 1.5 } } }),
      makeNode('Constant', [], ['b'], { name: 'c_floats', attributes: { value_floats: { type: 'floats', value: [1, 2, 3] } } }),
      makeNode('Constant', [], ['shape'], { name: 'c_ints', attributes: { value_ints: [3, 2] } }),
      makeNode('Constant', [], ['axis'], { name: 'c_int', attributes: { value_int: 0 } }),
      makeNode('Mul', ['x', 'w'], ['xw']),
      makeNode('Mul', ['xw', 's'], ['xws']),
      makeNode('Add', ['xws', 'b'], ['sum']),
      makeNode('Reshape', ['sum', 'shape'], ['y']),
      makeNode('Unsqueeze', ['y', 'axis'], ['z']),
    ],
    inputs: [makeValueInfo('x', F, [2, 3])],
    outputs: [makeValueInfo('z', F, [1, 3, 2])],
    opset: 13,
  });
}

function ifGraph(name: string, value: number): GraphProto {
  return makeModel({
    name,
    nodes: [
      makeNode('Constant', [], [`${name}_c`], { attributes: { value_float: { type: 'float', value } } }),
      makeNode('Add', ['x', `${name}_c`], [`${name}_out`]),
    ],
    inputs: [],
    outputs: [makeValueInfo(`${name}_out`, F, [2])],
  }).graph!;
}

describe('constants-to-initializers', () => {
  it('turns every attribute form of Constant into an initializer of the same name', async () => {
    const model = constantsModel();
    const before = snapshot(model);
    const result = constantsToInitializers(model);
    assert.equal(result.changes, 5);
    assert.equal(opCounts(result.model).get('Constant'), undefined);
    const initializers = new Map(result.model.graph!.initializer.map((tensor) => [tensor.name, decodeTensor(tensor)]));
    assert.deepEqual([...initializers.keys()].sort(), ['axis', 'b', 's', 'shape', 'w']);
    assert.deepEqual(Array.from(initializers.get('w')!.data as Float32Array), [0.5, -2, 3]);
    assert.deepEqual(initializers.get('s')!.dims, []);
    assert.equal(initializers.get('shape')!.dataType, DataType.INT64);
    assert.deepEqual(Array.from(initializers.get('shape')!.data as BigInt64Array), [3n, 2n]);
    assert.deepEqual(snapshot(model), before, 'the input model was mutated');
    await assertSameOutputs(model, result.model);
  });

  it('leaves Constants inside subgraphs and Constants that are graph outputs alone', async () => {
    const model = makeModel({
      name: 'branches',
      nodes: [
        makeNode('Constant', [], ['k'], { attributes: { value_floats: { type: 'floats', value: [4, 5] } } }),
        makeNode('If', ['cond'], ['picked'], { attributes: { then_branch: ifGraph('then', 1), else_branch: ifGraph('else', -1) } }),
        makeNode('Mul', ['picked', 'k'], ['y']),
        makeNode('Constant', [], ['const_out'], { attributes: { value_float: { type: 'float', value: 9 } } }),
      ],
      inputs: [makeValueInfo('cond', DataType.BOOL, []), makeValueInfo('x', F, [2])],
      outputs: [makeValueInfo('y', F, [2]), makeValueInfo('const_out', F, [])],
      opset: 13,
    });
    const result = constantsToInitializers(model);
    assert.equal(result.changes, 1);
    const ifNode = result.model.graph!.node.find((node) => node.opType === 'If')!;
    const thenBranch = ifNode.attribute.find((attribute) => attribute.name === 'then_branch')!.g!;
    assert.equal(thenBranch.node[0]!.opType, 'Constant');
    assert.deepEqual(result.model.graph!.node.filter((node) => node.opType === 'Constant').map((node) => node.output[0]), ['const_out']);
    await assertSameOutputs(model, result.model);
  });

  it('moves all 250 weight Constants of the PP-OCR classifier', async () => {
    const model = loadPpOcr('cls');
    assert.equal(opCounts(model).get('Constant'), 250);
    const result = constantsToInitializers(model);
    assert.equal(result.changes, 250);
    assert.equal(opCounts(result.model).get('Constant'), undefined);
    assert.equal(result.model.graph!.initializer.length, 250);
  });
});
