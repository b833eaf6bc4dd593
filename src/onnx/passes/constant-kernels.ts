/**
 * JavaScript evaluators for the ops {@link foldConstants} folds: shape plumbing (Shape,
 * Reshape, Squeeze, Unsqueeze, Concat, Gather, Slice, Transpose, Expand, ConstantOfShape),
 * Cast and elementwise arithmetic. Float32 results are exact: +, −, ×, ÷ and √ computed in
 * float64 and rounded once to float32 give the correctly rounded float32 result. A kernel
 * returns undefined for a case it does not handle (float16 math, division by an integer zero),
 * and the node is then left in the graph.
 */
import { DataType, arrayConstructor, dtypeInfo, type TensorData } from '../dtype.js';
import type { NodeProto } from '../gen/onnx_pb.js';
import { decodeTensor, type DecodedTensor } from '../tensor.js';
import { intAttribute, intsAttribute, tensorAttribute } from './attributes.js';
import { constantNodeValue } from './constant-value.js';
import { sliceLength } from './shape-rules-common.js';
import {
  allocateLike,
  broadcastShapes,
  broadcastSteps,
  countOf,
  gatherOffsets,
  normalizeAxis,
  stridesOf,
  walkOffsets,
} from './tensor-ops.js';

type Inputs = readonly (DecodedTensor | undefined)[];
type Kernel = (node: NodeProto, inputs: Inputs) => DecodedTensor[] | undefined;
type Numeric = Exclude<TensorData, string[]>;

const FLOATS = new Set<number>([DataType.FLOAT, DataType.DOUBLE]);
const INTEGERS = new Set<number>([DataType.INT8, DataType.UINT8, DataType.INT16, DataType.UINT16, DataType.INT32, DataType.UINT32, DataType.INT64, DataType.UINT64]);
/** Types whose typed arrays hold plain element values (no packed or raw-bit storage). */
const PLAIN = new Set<number>([...FLOATS, ...INTEGERS, DataType.BOOL]);

const tensor = (dataType: number, dims: readonly number[], data: TensorData): DecodedTensor => ({ name: '', dataType, dims: [...dims], data });

function numbers(value: DecodedTensor | undefined): number[] | undefined {
  if (!value || !INTEGERS.has(value.dataType)) return undefined;
  return Array.from(value.data as ArrayLike<number | bigint>, Number);
}

/** Movement ops work on any type with one array entry per element. */
function movable(value: DecodedTensor | undefined): value is DecodedTensor {
  return value !== undefined && !Array.isArray(value.data) && dtypeInfo(value.dataType)?.arrayPerElement === 1;
}

function axesOperand(node: NodeProto, inputs: Inputs): number[] | undefined {
  return intsAttribute(node, 'axes') ?? numbers(inputs[1]);
}

const reshape: Kernel = (node, [data, shape]) => {
  const target = numbers(shape);
  if (!movable(data) || !target) return undefined;
  const allowZero = intAttribute(node, 'allowzero', 0) === 1;
  const dims = target.map((dim, axis) => (dim === 0 && !allowZero ? data.dims[axis]! : dim));
  const known = dims.filter((dim) => dim !== -1).reduce((product, dim) => product * dim, 1);
  const inferred = dims.indexOf(-1);
  if (inferred >= 0) dims[inferred] = known === 0 ? 0 : data.data.length / known;
  return countOf(dims) === data.data.length ? [tensor(data.dataType, dims, data.data)] : undefined;
};

const squeeze: Kernel = (node, inputs) => {
  const data = inputs[0];
  if (!movable(data)) return undefined;
  const axes = axesOperand(node, inputs)?.map((axis) => normalizeAxis(axis, data.dims.length));
  if (axes?.some((axis) => data.dims[axis] !== 1)) return undefined;
  const dims = data.dims.filter((dim, axis) => (axes ? !axes.includes(axis) : dim !== 1));
  return [tensor(data.dataType, dims, data.data)];
};

const unsqueeze: Kernel = (node, inputs) => {
  const data = inputs[0];
  const axes = axesOperand(node, inputs);
  if (!movable(data) || !axes) return undefined;
  const rank = data.dims.length + axes.length;
  const inserted = new Set(axes.map((axis) => normalizeAxis(axis, rank)));
  const rest = [...data.dims];
  return [tensor(data.dataType, Array.from({ length: rank }, (_, axis) => (inserted.has(axis) ? 1 : rest.shift()!)), data.data)];
};

const transpose: Kernel = (node, [data]) => {
  if (!movable(data)) return undefined;
  const perm = intsAttribute(node, 'perm') ?? data.dims.map((_, axis) => data.dims.length - 1 - axis);
  const strides = stridesOf(data.dims);
  const dims = perm.map((axis) => data.dims[axis]!);
  return [tensor(data.dataType, dims, gatherOffsets(data.data, walkOffsets(dims, perm.map((axis) => strides[axis]!))))];
};

const concat: Kernel = (node, inputs) => {
  const parts = inputs.filter((input): input is DecodedTensor => input !== undefined);
  const first = parts[0];
  if (!first || !parts.every((part) => movable(part) && part.dataType === first.dataType && part.dims.length === first.dims.length)) return undefined;
  const axis = normalizeAxis(intAttribute(node, 'axis', 0), first.dims.length);
  const outer = countOf(first.dims.slice(0, axis));
  const dims = [...first.dims];
  dims[axis] = parts.reduce((sum, part) => sum + part.dims[axis]!, 0);
  const result = allocateLike(first.data, countOf(dims)) as unknown as (number | bigint)[];
  let at = 0;
  for (let block = 0; block < outer; block++) {
    for (const part of parts) {
      const size = countOf(part.dims.slice(axis));
      const source = part.data as ArrayLike<number | bigint>;
      for (let index = 0; index < size; index++) result[at++] = source[block * size + index]!;
    }
  }
  return [tensor(first.dataType, dims, result as unknown as Numeric)];
};

const gather: Kernel = (node, [data, indices]) => {
  const positions = numbers(indices);
  if (!movable(data) || !positions || !indices) return undefined;
  const axis = normalizeAxis(intAttribute(node, 'axis', 0), data.dims.length);
  const size = data.dims[axis]!;
  const outer = countOf(data.dims.slice(0, axis));
  const inner = countOf(data.dims.slice(axis + 1));
  const offsets = new Float64Array(outer * positions.length * inner);
  let at = 0;
  for (let block = 0; block < outer; block++) {
    for (const position of positions) {
      const index = position < 0 ? position + size : position;
      if (index < 0 || index >= size) return undefined;
      for (let element = 0; element < inner; element++) offsets[at++] = (block * size + index) * inner + element;
    }
  }
  const dims = [...data.dims.slice(0, axis), ...indices.dims, ...data.dims.slice(axis + 1)];
  return [tensor(data.dataType, dims, gatherOffsets(data.data, offsets))];
};

const slice: Kernel = (node, inputs) => {
  const data = inputs[0];
  if (!movable(data)) return undefined;
  const fromAttributes = intsAttribute(node, 'starts') !== undefined;
  const starts = fromAttributes ? intsAttribute(node, 'starts') : numbers(inputs[1]);
  const ends = fromAttributes ? intsAttribute(node, 'ends') : numbers(inputs[2]);
  if (!starts || !ends) return undefined;
  const axes = (fromAttributes ? intsAttribute(node, 'axes') : numbers(inputs[3])) ?? starts.map((_, index) => index);
  const steps = (fromAttributes ? undefined : numbers(inputs[4])) ?? starts.map(() => 1);
  const strides = stridesOf(data.dims);
  const dims = [...data.dims];
  const walk = strides.slice();
  let base = 0;
  axes.forEach((rawAxis, index) => {
    const axis = normalizeAxis(rawAxis, data.dims.length);
    const size = data.dims[axis]!;
    const step = steps[index]!;
    const start = starts[index]!;
    const first = step > 0 ? Math.min(Math.max(start < 0 ? start + size : start, 0), size) : Math.min(Math.max(start < 0 ? start + size : start, 0), size - 1);
    dims[axis] = sliceLength(size, start, ends[index]!, step);
    walk[axis] = strides[axis]! * step;
    base += dims[axis]! > 0 ? first * strides[axis]! : 0;
  });
  return [tensor(data.dataType, dims, gatherOffsets(data.data, walkOffsets(dims, walk, base)))];
};

const expand: Kernel = (_node, [data, shape]) => {
  const target = numbers(shape);
  if (!movable(data) || !target) return undefined;
  const dims = broadcastShapes([data.dims, target]);
  return dims ? [tensor(data.dataType, dims, gatherOffsets(data.data, walkOffsets(dims, broadcastSteps(data.dims, dims))))] : undefined;
};

/** Elementwise op over broadcast inputs of one plain numeric type. */
function elementwise(floatOp: ((...values: number[]) => number) | undefined, bigintOp?: (...values: bigint[]) => bigint | undefined): Kernel {
  return (_node, inputs) => {
    const values = inputs.filter((input): input is DecodedTensor => input !== undefined);
    const first = values[0];
    if (!first || !values.every((value) => value.dataType === first.dataType && PLAIN.has(value.dataType))) return undefined;
    const isBig = first.data instanceof BigInt64Array || first.data instanceof BigUint64Array;
    if (isBig ? !bigintOp : !floatOp || (!FLOATS.has(first.dataType) && first.dataType !== DataType.INT32)) return undefined;
    const dims = broadcastShapes(values.map((value) => value.dims));
    if (!dims) return undefined;
    const walks = values.map((value) => walkOffsets(dims, broadcastSteps(value.dims, dims)));
    const result = allocateLike(first.data, countOf(dims)) as unknown as (number | bigint)[];
    const sources = values.map((value) => value.data as ArrayLike<number | bigint>);
    for (let index = 0; index < result.length; index++) {
      const operands = sources.map((source, which) => source[walks[which]![index]!]!);
      const out = isBig ? bigintOp!(...(operands as bigint[])) : floatOp!(...(operands as number[]));
      if (out === undefined || (!isBig && first.dataType === DataType.INT32 && !Number.isFinite(out as number))) return undefined;
      result[index] = first.dataType === DataType.INT32 ? Math.trunc(out as number) : out;
    }
    return [tensor(first.dataType, dims, result as unknown as Numeric)];
  };
}

const floatOnly = (op: (...values: number[]) => number): Kernel => {
  const inner = elementwise(op);
  return (node, inputs) => (inputs.every((input) => !input || FLOATS.has(input.dataType)) ? inner(node, inputs) : undefined);
};

function castValue(value: number | bigint, to: number): number | bigint {
  if (to === DataType.BOOL) return Number(value) !== 0 ? 1 : 0;
  if (to === DataType.INT64 || to === DataType.UINT64) return typeof value === 'bigint' ? value : BigInt(Math.trunc(value));
  if (FLOATS.has(to)) return Number(value);
  return typeof value === 'bigint' ? Number(BigInt.asIntN(32, value)) : Math.trunc(value);
}

const cast: Kernel = (node, [data]) => {
  const to = intAttribute(node, 'to', 0);
  const target = dtypeInfo(to);
  if (!data || !PLAIN.has(data.dataType) || !PLAIN.has(to) || !target) return undefined;
  const source = data.data as ArrayLike<number | bigint>;
  if (!FLOATS.has(to) && FLOATS.has(data.dataType) && Array.from(source as ArrayLike<number>).some((value) => !Number.isFinite(value))) return undefined;
  const Ctor = arrayConstructor(target) as unknown as new (length: number) => (number | bigint)[];
  const result = new Ctor(source.length);
  for (let index = 0; index < source.length; index++) result[index] = castValue(source[index]!, to);
  return [tensor(to, data.dims, result as unknown as Numeric)];
};

const shape: Kernel = (node, [data]) => {
  if (!data) return undefined;
  const rank = data.dims.length;
  const start = Math.max(0, normalizeAxis(intAttribute(node, 'start', 0), rank));
  const end = Math.min(rank, normalizeAxis(intAttribute(node, 'end', rank), rank));
  const dims = data.dims.slice(start, Math.max(start, end));
  return [tensor(DataType.INT64, [dims.length], BigInt64Array.from(dims, BigInt))];
};

const constantOfShape: Kernel = (node, [shapeInput]) => {
  const dims = numbers(shapeInput);
  const value = tensorAttribute(node, 'value');
  if (!dims) return undefined;
  const fill = value ? decodeTensor(value) : tensor(DataType.FLOAT, [1], Float32Array.of(0));
  if (Array.isArray(fill.data) || fill.data.length !== 1) return undefined;
  const result = allocateLike(fill.data, countOf(dims)) as unknown as (number | bigint)[];
  for (let index = 0; index < result.length; index++) result[index] = fill.data[0]!;
  return [tensor(fill.dataType, dims, result as unknown as Numeric)];
};

/** Kernels by op type. */
export const KERNELS: ReadonlyMap<string, Kernel> = new Map<string, Kernel>([
  ['Constant', (node) => {
    const value = constantNodeValue(node, '');
    return value ? [value] : undefined;
  }],
  ['Identity', (_node, [data]) => (data ? [data] : undefined)],
  ['Cast', cast],
  ['Reshape', reshape],
  ['Squeeze', squeeze],
  ['Unsqueeze', unsqueeze],
  ['Transpose', transpose],
  ['Concat', concat],
  ['Gather', gather],
  ['Slice', slice],
  ['Expand', expand],
  ['Shape', shape],
  ['Size', (_node, [data]) => (data ? [tensor(DataType.INT64, [], BigInt64Array.of(BigInt(countOf(data.dims))))] : undefined)],
  ['ConstantOfShape', constantOfShape],
  ['Add', elementwise((a, b) => a! + b!, (a, b) => a! + b!)],
  ['Sub', elementwise((a, b) => a! - b!, (a, b) => a! - b!)],
  ['Mul', elementwise((a, b) => a! * b!, (a, b) => a! * b!)],
  ['Div', elementwise((a, b) => a! / b!, (a, b) => (b === 0n ? undefined : a! / b!))],
  ['Neg', elementwise((a) => -a!, (a) => -a!)],
  ['Sqrt', floatOnly((a) => Math.sqrt(a!))],
  ['Reciprocal', floatOnly((a) => 1 / a!)],
  ['Pow', floatOnly((a, b) => a! ** b!)],
]);

/** Ops whose output can be much larger than their inputs: folded only up to a size. */
export const GROWING_OPS = new Set(['ConstantOfShape', 'Expand', 'Gather']);
