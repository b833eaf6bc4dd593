import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeModel, makeNode, makeValueInfo } from '../build.js';
import { DataType } from '../dtype.js';
import type { TensorProto } from '../gen/onnx_pb.js';
import { encodeTensor } from '../tensor.js';
import { MAX_GROWN_ELEMENTS, foldConstants } from './fold-constants.js';
import { assertSameOutputs, compareModels, opCounts, snapshot } from '../../../test/fixtures/pass-harness.js';

const F = DataType.FLOAT;
const I64 = DataType.INT64;

const floats = (name: string, dims: number[], values: number[]) => encodeTensor({ name, dataType: F, dims, data: Float32Array.from(values) });
const ints = (name: string, values: number[], dims = [values.length]) => encodeTensor({ name, dataType: I64, dims, data: BigInt64Array.from(values, BigInt) });
const ramp = (count: number, scale: number) => Array.from({ length: count }, (_, index) => (index - count / 3) * scale);

/**
 * x [2, 3, 4] meets constants computed the way exporters write them: a reshape target built
 * from Shape/Gather/Unsqueeze/Concat of a weight, a weight transposed, sliced and squeezed,
 * and a bias computed with Cast, arithmetic, Expand and ConstantOfShape.
 */
function exporterGraph(initializers: TensorProto[]) {
  return makeModel({
    name: 'fold',
    nodes: [
      makeNode('Shape', ['w'], ['w_shape']),
      makeNode('Gather', ['w_shape', 'zero'], ['w_rows'], { attributes: { axis: 0 } }),
      makeNode('Unsqueeze', ['w_rows', 'axes0'], ['rows_1d']),
      makeNode('Concat', ['minus_one', 'rows_1d'], ['target'], { attributes: { axis: 0 } }),
      makeNode('Reshape', ['x', 'target'], ['x2d']),
      makeNode('Transpose', ['w'], ['wt'], { attributes: { perm: [1, 0] } }),
      makeNode('Slice', ['wt', 'starts', 'ends', 'axes1', 'steps'], ['wt_cols']),
      makeNode('MatMul', ['x2d', 'w'], ['mm']),
      makeNode('Cast', ['int_bias'], ['bias_f'], { attributes: { to: F } }),
      makeNode('Div', ['bias_f', 'three'], ['bias_div']),
      makeNode('Sub', ['bias_div', 'half'], ['bias_sub']),
      makeNode('Sqrt', ['positive'], ['root']),
      makeNode('Reciprocal', ['root'], ['inverse']),
      makeNode('Neg', ['inverse'], ['negated']),
      makeNode('Mul', ['bias_sub', 'negated'], ['bias']),
      makeNode('ConstantOfShape', ['four'], ['ones'], { attributes: { value: floats('', [1], [1]) } }),
      makeNode('Add', ['bias', 'ones'], ['bias_plus']),
      makeNode('Expand', ['bias_plus', 'expand_to'], ['bias_2d']),
      makeNode('Add', ['mm', 'bias_2d'], ['y']),
      makeNode('Squeeze', ['wt_cols', 'axes1'], ['w_row']),
      makeNode('Mul', ['x', 'w_row'], ['z']),
    ],
    inputs: [makeValueInfo('x', F, [2, 3, 4])],
    outputs: [makeValueInfo('y', F, [6, 4]), makeValueInfo('z', F, [2, 3, 4])],
    initializers,
    opset: 13,
  });
}

const INITIALIZERS = [
  floats('w', [4, 4], ramp(16, 0.37)),
  ints('zero', [0], []),
  ints('axes0', [0]),
  ints('axes1', [1]),
  ints('minus_one', [-1]),
  ints('starts', [3]),
  ints('ends', [-100]),
  ints('steps', [-4]),
  ints('int_bias', [1, -2, 7, 11]),
  floats('three', [], [3]),
  floats('half', [1], [0.5]),
  floats('positive', [4], [2, 3, 5, 7]),
  ints('four', [4]),
  ints('expand_to', [6, 4]),
];

describe('fold-constants', () => {
  it('evaluates constant chains exactly as onnxruntime does, leaving only nodes that read inputs', async () => {
    const source = exporterGraph(INITIALIZERS);
    const before = snapshot(source);
    const result = foldConstants(source);
    assert.deepEqual(Object.fromEntries(opCounts(result.model)), { Reshape: 1, MatMul: 1, Add: 1, Mul: 1 });
    assert.equal(result.changes, 17);
    const names = result.model.graph!.initializer.map((tensor) => tensor.name).sort();
    assert.deepEqual(names, ['bias_2d', 'target', 'w', 'w_row'], 'intermediate and orphaned constants are dropped');
    assert.deepEqual(snapshot(source), before, 'the input model was mutated');
    // Every kernel here is exact in float32, so the outputs match to the bit.
    assert.equal(await compareModels(source, result.model), 0);
  });

  it('folds Pow within tolerance and leaves ops it has no kernel for', async () => {
    const source = makeModel({
      name: 'pow',
      nodes: [
        makeNode('Pow', ['base', 'exponent'], ['powered']),
        makeNode('Sin', ['base'], ['sine']),
        makeNode('Div', ['i', 'zero'], ['by_zero']),
        makeNode('Cast', ['by_zero'], ['by_zero_f'], { attributes: { to: F } }),
        makeNode('Add', ['x', 'powered'], ['sum']),
        makeNode('Add', ['sum', 'sine'], ['with_sine']),
        makeNode('Add', ['with_sine', 'by_zero_f'], ['y']),
      ],
      inputs: [makeValueInfo('x', F, [3])],
      outputs: [makeValueInfo('y', F, [3])],
      initializers: [floats('base', [3], [1.7, 2.5, 0.3]), floats('exponent', [], [2.2]), encodeTensor({ name: 'i', dataType: DataType.INT32, dims: [3], data: Int32Array.of(1, 2, 3) }), encodeTensor({ name: 'zero', dataType: DataType.INT32, dims: [1], data: Int32Array.of(0) })],
      opset: 13,
    });
    const result = foldConstants(source);
    assert.equal(result.changes, 1);
    assert.deepEqual(
      result.model.graph!.node.map((node) => node.opType),
      ['Sin', 'Div', 'Cast', 'Add', 'Add', 'Add'],
      'Sin has no kernel; an integer division by zero is left to fail where it did',
    );
    const powOnly = makeModel({
      name: 'pow-only',
      nodes: [makeNode('Pow', ['base', 'exponent'], ['p']), makeNode('Add', ['x', 'p'], ['y'])],
      inputs: [makeValueInfo('x', F, [3])],
      outputs: [makeValueInfo('y', F, [3])],
      initializers: source.graph!.initializer.slice(0, 2),
      opset: 13,
    });
    await assertSameOutputs(powOnly, foldConstants(powOnly).model);
  });

  it('does not fold graph outputs, overridable initializers or oversized ConstantOfShape', () => {
    const source = makeModel({
      name: 'kept',
      nodes: [
        makeNode('Neg', ['c'], ['neg_out']),
        makeNode('Neg', ['default'], ['neg_default']),
        makeNode('ConstantOfShape', ['big'], ['zeros']),
        makeNode('Add', ['x', 'neg_default'], ['y']),
        makeNode('Mul', ['y', 'zeros'], ['z']),
      ],
      inputs: [makeValueInfo('x', F, [1]), makeValueInfo('default', F, [1])],
      outputs: [makeValueInfo('neg_out', F, [1]), makeValueInfo('z', F, undefined)],
      initializers: [floats('c', [1], [2]), floats('default', [1], [3]), ints('big', [MAX_GROWN_ELEMENTS + 1])],
      opset: 13,
    });
    const result = foldConstants(source);
    assert.equal(result.changes, 0);
    assert.equal(result.model, source);
  });
});
