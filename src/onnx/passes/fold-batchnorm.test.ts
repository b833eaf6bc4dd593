import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeModel, makeNode, makeValueInfo, type AttributeValue } from '../build.js';
import { DataType } from '../dtype.js';
import type { ModelProto, NodeProto, TensorProto } from '../gen/onnx_pb.js';
import { encodeTensor } from '../tensor.js';
import { createRandom, normal, uniform, type Random } from '../../../test/fixtures/random.js';
import { foldBatchNorm } from './fold-batchnorm.js';
import { assertSameOutputs, opCounts, snapshot } from '../../../test/fixtures/pass-harness.js';

const F = DataType.FLOAT;

function weight(name: string, dims: number[], data: Float32Array): TensorProto {
  return encodeTensor({ name, dataType: F, dims, data });
}

/** BatchNormalization `bn_<name>` over `channels`, with non-trivial seeded statistics. */
function batchNorm(random: Random, name: string, input: string, output: string, channels: number, attributes: Record<string, AttributeValue> = {}) {
  const p = (suffix: string, data: Float32Array) => weight(`${name}.${suffix}`, [channels], data);
  return {
    node: makeNode('BatchNormalization', [input, `${name}.gamma`, `${name}.beta`, `${name}.mean`, `${name}.var`], [output], { name: `bn_${name}`, attributes: { epsilon: 1e-3, ...attributes } }),
    weights: [p('gamma', normal(random, channels, 0.5, 1)), p('beta', normal(random, channels, 0.3)), p('mean', normal(random, channels, 0.5)), p('var', uniform(random, channels, 0.1, 3))],
  };
}

function model(nodes: NodeProto[], initializers: TensorProto[], inputs: [string, number[]][], outputs: string[], opset = 13): ModelProto {
  return makeModel({
    name: 'bn',
    nodes,
    inputs: inputs.map(([name, shape]) => makeValueInfo(name, F, shape)),
    outputs: outputs.map((name) => makeValueInfo(name, F, undefined)),
    initializers,
    opset,
  });
}

describe('fold-batchnorm', () => {
  it('folds BN into Conv (with and without bias, grouped) and leaves a weight shared with another node alone', async () => {
    const random = createRandom(3);
    const bn1 = batchNorm(random, 'one', 'c1', 'y1', 4);
    const bn2 = batchNorm(random, 'two', 'c2', 'y2', 4);
    const source = model(
      [
        makeNode('Conv', ['x', 'w', 'b'], ['c1'], { name: 'conv1', attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } }),
        bn1.node,
        makeNode('Conv', ['y1', 'dw'], ['c2'], { name: 'depthwise', attributes: { kernel_shape: [3, 3], group: 4 } }),
        bn2.node,
        makeNode('Conv', ['x', 'w'], ['plain'], { name: 'conv_shared', attributes: { kernel_shape: [3, 3] } }),
      ],
      [weight('w', [4, 3, 3, 3], normal(random, 108, 0.3)), weight('b', [4], normal(random, 4, 0.1)), weight('dw', [4, 1, 3, 3], normal(random, 36, 0.3)), ...bn1.weights, ...bn2.weights],
      [['x', [1, 3, 8, 8]]],
      ['y2', 'plain'],
    );
    const before = snapshot(source);
    const result = foldBatchNorm(source);
    assert.equal(result.changes, 2);
    assert.equal(opCounts(result.model).get('BatchNormalization'), undefined);
    const graph = result.model.graph!;
    const conv1 = graph.node.find((node) => node.name === 'conv1')!;
    assert.notEqual(conv1.input[1], 'w', 'the shared weight is copied, not changed');
    assert.deepEqual([...conv1.output], ['y1']);
    assert.equal(graph.node.find((node) => node.name === 'conv_shared')!.input[1], 'w');
    assert.equal(graph.node.find((node) => node.name === 'depthwise')!.input.length, 3, 'a bias is added');
    assert.ok(!graph.initializer.some((tensor) => tensor.name.startsWith('one.') || tensor.name.startsWith('two.')), 'BN parameters are gone');
    assert.deepEqual(snapshot(source), before, 'the input model was mutated');
    await assertSameOutputs(source, result.model);
  });

  it('folds BN into ConvTranspose per group, along axis 1 of W', async () => {
    const random = createRandom(4);
    const bn = batchNorm(random, 'up', 't', 'y', 6);
    const source = model(
      [makeNode('ConvTranspose', ['x', 'w', 'b'], ['t'], { name: 'deconv', attributes: { kernel_shape: [2, 2], strides: [2, 2], group: 2 } }), bn.node],
      [weight('w', [4, 3, 2, 2], normal(random, 48, 0.4)), weight('b', [6], normal(random, 6, 0.1)), ...bn.weights],
      [['x', [1, 4, 5, 5]]],
      ['y'],
    );
    const result = foldBatchNorm(source);
    assert.equal(result.changes, 1);
    assert.deepEqual([...opCounts(result.model).keys()], ['ConvTranspose']);
    await assertSameOutputs(source, result.model);
  });

  it('folds BN into Gemm (transB, alpha/beta, 1-D and 2-D C, no C) and into a 2-D MatMul as MatMul + Add', async () => {
    const random = createRandom(5);
    const bns = ['g1', 'g2', 'g3', 'mm'].map((name) => batchNorm(random, name, `${name}_in`, `${name}_out`, 4));
    const source = model(
      [
        makeNode('Gemm', ['x', 'wt', 'c1'], ['g1_in'], { name: 'gemm_t', attributes: { transB: 1, alpha: 0.7, beta: 1.3 } }),
        makeNode('Gemm', ['x', 'w', 'c2'], ['g2_in'], { name: 'gemm_c2d', attributes: { beta: 0.5 } }),
        makeNode('Gemm', ['x', 'w'], ['g3_in'], { name: 'gemm_noc' }),
        makeNode('MatMul', ['x', 'w2'], ['mm_in'], { name: 'matmul' }),
        ...bns.map((bn) => bn.node),
      ],
      [
        weight('wt', [4, 6], normal(random, 24, 0.4)),
        weight('w', [6, 4], normal(random, 24, 0.4)),
        weight('w2', [6, 4], normal(random, 24, 0.4)),
        weight('c1', [4], normal(random, 4, 0.2)),
        weight('c2', [2, 4], normal(random, 8, 0.2)),
        ...bns.flatMap((bn) => bn.weights),
      ],
      [['x', [2, 6]]],
      bns.map((bn) => bn.node.output[0]!),
    );
    const result = foldBatchNorm(source);
    assert.equal(result.changes, 4);
    assert.deepEqual(Object.fromEntries(opCounts(result.model)), { Gemm: 3, MatMul: 1, Add: 1 });
    await assertSameOutputs(source, result.model);
  });

  it('keeps BNs it must not fold', () => {
    const random = createRandom(6);
    const afterMatMul3d = batchNorm(random, 'seq', 'm', 'y1', 4);
    const shared = batchNorm(random, 'shared', 'c', 'y2', 4);
    const training = batchNorm(random, 'train', 'c2', 'y3', 4, { training_mode: 1 });
    const source = model(
      [
        makeNode('MatMul', ['seq', 'w'], ['m'], { name: 'matmul3d' }),
        afterMatMul3d.node,
        makeNode('Conv', ['x', 'k'], ['c'], { name: 'conv' }),
        shared.node,
        makeNode('Relu', ['c'], ['also_reads_c']),
        makeNode('Conv', ['x', 'k'], ['c2'], { name: 'conv2' }),
        training.node,
      ],
      [weight('w', [4, 4], normal(random, 16)), weight('k', [4, 3, 1, 1], normal(random, 12)), ...afterMatMul3d.weights, ...shared.weights, ...training.weights],
      [['seq', [1, 4, 4]], ['x', [1, 3, 4, 4]]],
      ['y1', 'y2', 'y3', 'also_reads_c'],
      15,
    );
    const result = foldBatchNorm(source);
    assert.equal(result.changes, 0);
    assert.equal(result.model, source);
    const notes = result.notes!.join('\n');
    assert.match(notes, /bn_seq.*channels/);
    assert.match(notes, /bn_shared.*other readers/);
    assert.match(notes, /bn_train.*training_mode=1/);
  });
});
