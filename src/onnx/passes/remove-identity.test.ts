import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeModel, makeNode, makeValueInfo } from '../build.js';
import { DataType } from '../dtype.js';
import type { GraphProto, ModelProto, NodeProto, TensorProto } from '../gen/onnx_pb.js';
import { encodeTensor } from '../tensor.js';
import { assertSameOutputs, opCounts, snapshot } from '../../../test/fixtures/pass-harness.js';
import { removeIdentity } from './remove-identity.js';

const F = DataType.FLOAT;

function model(nodes: NodeProto[], outputs: string[], initializers: TensorProto[] = [], extraInputs: string[] = []): ModelProto {
  return makeModel({
    name: 'identities',
    nodes,
    inputs: [makeValueInfo('x', F, [2, 3]), ...extraInputs.map((name) => makeValueInfo(name, DataType.BOOL, []))],
    outputs: outputs.map((name) => makeValueInfo(name, F, [2, 3])),
    initializers,
    opset: 13,
  });
}

const flag = (name: string, value: boolean) => encodeTensor({ name, dataType: DataType.BOOL, dims: [], data: Uint8Array.of(value ? 1 : 0) });

describe('remove-identity', () => {
  it('removes Identity and inference Dropout, renaming the producer when a graph output would vanish', async () => {
    const source = model(
      [
        makeNode('Identity', ['x'], ['a'], { name: 'id_in' }),
        makeNode('Relu', ['a'], ['b'], { name: 'relu' }),
        makeNode('Dropout', ['b', 'ratio'], ['c'], { name: 'drop' }),
        makeNode('Identity', ['c'], ['y'], { name: 'id_out' }),
      ],
      ['y'],
      [encodeTensor({ name: 'ratio', dataType: F, dims: [], data: Float32Array.of(0.5) })],
    );
    source.graph!.valueInfo.push(makeValueInfo('b', F, [2, 3]));
    const before = snapshot(source);
    const result = removeIdentity(source);
    assert.equal(result.changes, 3);
    assert.deepEqual([...opCounts(result.model).keys()], ['Relu']);
    const relu = result.model.graph!.node[0]!;
    assert.deepEqual([...relu.input], ['x']);
    assert.deepEqual([...relu.output], ['y'], 'the Relu now writes the graph output itself');
    assert.deepEqual(result.model.graph!.valueInfo.map((info) => info.name), [], 'value_info of vanished names goes');
    assert.deepEqual(result.model.graph!.initializer, [], 'the Dropout ratio goes with the Dropout');
    assert.deepEqual(snapshot(source), before, 'the input model was mutated');
    await assertSameOutputs(source, result.model);
  });

  it('keeps a node copying a graph input or an already named output to a graph output', async () => {
    const source = model(
      [
        makeNode('Identity', ['x'], ['copy'], { name: 'pass_through' }),
        makeNode('Relu', ['x'], ['r'], { name: 'relu' }),
        makeNode('Identity', ['r'], ['out1'], { name: 'first' }),
        makeNode('Identity', ['r'], ['out2'], { name: 'second' }),
      ],
      ['copy', 'out1', 'out2'],
    );
    const result = removeIdentity(source);
    assert.equal(result.changes, 1);
    assert.deepEqual(
      result.model.graph!.node.map((node) => `${node.name}:${node.input.join(',')}->${node.output.join(',')}`),
      ['pass_through:x->copy', 'relu:x->out1', 'second:out1->out2'],
    );
    assert.match(result.notes!.join('\n'), /2 node\(s\) kept/);
    await assertSameOutputs(source, result.model);
  });

  it('keeps a Dropout that may train or whose mask is read', async () => {
    const source = model(
      [
        makeNode('Dropout', ['x', '', 'off'], ['a'], { name: 'off' }),
        makeNode('Dropout', ['a', '', 'on'], ['b'], { name: 'training' }),
        makeNode('Dropout', ['b', '', 'train'], ['c'], { name: 'runtime_flag' }),
        makeNode('Dropout', ['c'], ['d', 'mask'], { name: 'masked' }),
        makeNode('Cast', ['mask'], ['mask_f'], { attributes: { to: F } }),
        makeNode('Add', ['d', 'mask_f'], ['y']),
      ],
      ['y'],
      [flag('off', false), flag('on', true)],
      ['train'],
    );
    const result = removeIdentity(source);
    assert.equal(result.changes, 1);
    assert.deepEqual(
      result.model.graph!.node.filter((node) => node.opType === 'Dropout').map((node) => node.name),
      ['training', 'runtime_flag', 'masked'],
    );
  });

  it('rewires readers inside subgraphs', async () => {
    const branch = (name: string): GraphProto =>
      makeModel({ name, nodes: [makeNode('Neg', ['a'], [`${name}_y`])], inputs: [], outputs: [makeValueInfo(`${name}_y`, F, [2, 3])] }).graph!;
    const source = model(
      [makeNode('Identity', ['x'], ['a'], { name: 'id' }), makeNode('If', ['cond'], ['y'], { attributes: { then_branch: branch('then'), else_branch: branch('else') } })],
      ['y'],
      [],
      ['cond'],
    );
    const result = removeIdentity(source);
    assert.equal(result.changes, 1);
    const thenBranch = result.model.graph!.node[0]!.attribute.find((attribute) => attribute.name === 'then_branch')!.g!;
    assert.deepEqual([...thenBranch.node[0]!.input], ['x']);
    await assertSameOutputs(source, result.model);
  });
});
