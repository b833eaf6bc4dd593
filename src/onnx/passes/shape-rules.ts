/**
 * Per-op rules for {@link inferShapes}: output element type and dims from the inputs' facts and
 * the values of small constant operands. Each rule follows the op's ONNX definition for the
 * opsets kiln reads (attribute forms before opset 13, input forms after).
 */
import { DataType } from '../dtype.js';
import { intAttribute, intsAttribute, tensorAttribute } from './attributes.js';
import { axesOf, broadcastDims, facts, normalizeAxis, product, sliceLength, type Rule, type StaticDim } from './shape-rules-common.js';
import { convTranspose, gemm, globalPool, matMul, resize, windowed } from './shape-rules-spatial.js';

export type { ShapeContext, StaticDim, TensorFacts } from './shape-rules-common.js';

const sameAsInput: Rule = (node, context) => {
  const input = context.facts(node.input[0]);
  return [input, ...node.output.slice(1).map(() => undefined)];
};

const broadcasting =
  (outputType?: number): Rule =>
  (node, context) => {
    const inputs = node.input.filter(Boolean).map((name) => context.facts(name));
    const typeSource = node.opType === 'Where' ? inputs[1] : inputs[0];
    return [facts(outputType ?? typeSource?.elemType, broadcastDims(inputs.map((input) => input?.dims)))];
  };

const flatten: Rule = (node, context) => {
  const x = context.facts(node.input[0]);
  if (!x?.dims) return [facts(x?.elemType, [undefined, undefined])];
  const axis = normalizeAxis(intAttribute(node, 'axis', 1), x.dims.length);
  return [facts(x.elemType, [product(x.dims.slice(0, axis)), product(x.dims.slice(axis))])];
};

const reshape: Rule = (node, context) => {
  const x = context.facts(node.input[0]);
  const shape = intsAttribute(node, 'shape') ?? context.values(node.input[1]);
  if (!shape) {
    const length = context.facts(node.input[1])?.dims?.[0];
    return [facts(x?.elemType, length === undefined ? undefined : new Array<StaticDim>(length).fill(undefined))];
  }
  const allowZero = intAttribute(node, 'allowzero', 0) === 1;
  const dims: StaticDim[] = shape.map((dim, axis) => (dim === 0 && !allowZero ? x?.dims?.[axis] : dim === -1 ? undefined : dim));
  const inferred = shape.indexOf(-1);
  if (inferred >= 0 && x?.dims) {
    const total = product(x.dims);
    const rest = product(dims.filter((_, axis) => axis !== inferred));
    if (total !== undefined && rest !== undefined && rest !== 0) dims[inferred] = total / rest;
  }
  return [facts(x?.elemType, dims)];
};

const transpose: Rule = (node, context) => {
  const x = context.facts(node.input[0]);
  if (!x?.dims) return [facts(x?.elemType, undefined)];
  const perm = intsAttribute(node, 'perm') ?? x.dims.map((_, axis) => x.dims!.length - 1 - axis);
  return [facts(x.elemType, perm.map((axis) => x.dims![axis]))];
};

const squeeze: Rule = (node, context) => {
  const x = context.facts(node.input[0]);
  const axes = axesOf(node, context, 1);
  if (!x?.dims) return [facts(x?.elemType, undefined)];
  if (!axes) {
    // Without axes every 1 goes: only decidable when all dims are known.
    return [facts(x.elemType, x.dims.every((dim) => dim !== undefined) ? x.dims.filter((dim) => dim !== 1) : undefined)];
  }
  const drop = new Set(axes.map((axis) => normalizeAxis(axis, x.dims!.length)));
  return [facts(x.elemType, x.dims.filter((_, axis) => !drop.has(axis)))];
};

const unsqueeze: Rule = (node, context) => {
  const x = context.facts(node.input[0]);
  const axes = axesOf(node, context, 1);
  if (!x?.dims || !axes) return [facts(x?.elemType, undefined)];
  const rank = x.dims.length + axes.length;
  const inserted = new Set(axes.map((axis) => normalizeAxis(axis, rank)));
  const rest = [...x.dims];
  return [facts(x.elemType, Array.from({ length: rank }, (_, axis) => (inserted.has(axis) ? 1 : rest.shift())))];
};

const concat: Rule = (node, context) => {
  const inputs = node.input.filter(Boolean).map((name) => context.facts(name));
  const known = inputs.find((input) => input?.dims);
  if (!known?.dims) return [facts(inputs[0]?.elemType, undefined)];
  const axis = normalizeAxis(intAttribute(node, 'axis', 0), known.dims.length);
  const dims = known.dims.map((dim, index) => (index === axis ? undefined : dim));
  const sizes = inputs.map((input) => input?.dims?.[axis]);
  dims[axis] = sizes.every((size) => size !== undefined) ? sizes.reduce((sum: number, size) => sum + size!, 0) : undefined;
  return [facts(known.elemType, dims)];
};

const slice: Rule = (node, context) => {
  const x = context.facts(node.input[0]);
  if (!x?.dims) return [facts(x?.elemType, undefined)];
  const attrStarts = intsAttribute(node, 'starts');
  const starts = attrStarts ?? context.values(node.input[1]);
  const ends = attrStarts ? intsAttribute(node, 'ends') : context.values(node.input[2]);
  const axes = (attrStarts ? intsAttribute(node, 'axes') : context.values(node.input[3])) ?? starts?.map((_, index) => index);
  const steps = attrStarts ? undefined : context.values(node.input[4]);
  const dims: StaticDim[] = [...x.dims];
  axes?.forEach((rawAxis, index) => {
    const axis = normalizeAxis(rawAxis, dims.length);
    const size = x.dims![axis];
    const start = starts?.[index];
    const end = ends?.[index];
    dims[axis] = size === undefined || start === undefined || end === undefined ? undefined : sliceLength(size, start, end, steps?.[index] ?? 1);
  });
  if (!axes) dims.fill(undefined);
  return [facts(x.elemType, dims)];
};

const gather: Rule = (node, context) => {
  const data = context.facts(node.input[0]);
  const indices = context.facts(node.input[1])?.dims;
  if (!data?.dims || !indices) return [facts(data?.elemType, undefined)];
  const axis = normalizeAxis(intAttribute(node, 'axis', 0), data.dims.length);
  return [facts(data.elemType, [...data.dims.slice(0, axis), ...indices, ...data.dims.slice(axis + 1)])];
};

const reduce =
  (outputType?: number, defaultAxis?: number): Rule =>
  (node, context) => {
    const x = context.facts(node.input[0]);
    const elemType = outputType ?? x?.elemType;
    if (!x?.dims) return [facts(elemType, undefined)];
    const keep = intAttribute(node, 'keepdims', 1) === 1;
    const single = defaultAxis === undefined ? undefined : intAttribute(node, 'axis', defaultAxis);
    const axes = single !== undefined ? [single] : axesOf(node, context, 1);
    const rank = x.dims.length;
    const reduced = new Set((axes && axes.length > 0 ? axes : x.dims.map((_, axis) => axis)).map((axis) => normalizeAxis(axis, rank)));
    const dims = keep ? x.dims.map((dim, axis) => (reduced.has(axis) ? 1 : dim)) : x.dims.filter((_, axis) => !reduced.has(axis));
    return [facts(elemType, dims)];
  };

const shape: Rule = (node, context) => {
  const rank = context.facts(node.input[0])?.dims?.length;
  if (rank === undefined) return [facts(DataType.INT64, [undefined])];
  const start = normalizeAxis(intAttribute(node, 'start', 0), rank);
  const end = normalizeAxis(intAttribute(node, 'end', rank), rank);
  return [facts(DataType.INT64, [Math.max(0, Math.min(end, rank) - Math.max(start, 0))])];
};

const expand: Rule = (node, context) => {
  const x = context.facts(node.input[0]);
  const target = context.values(node.input[1]);
  const length = context.facts(node.input[1])?.dims?.[0];
  const shapeDims = target ?? (length === undefined ? undefined : new Array<StaticDim>(length).fill(undefined));
  return [facts(x?.elemType, broadcastDims([x?.dims, shapeDims]))];
};

const cast: Rule = (node, context) => [facts(intAttribute(node, 'to'), context.facts(node.input[0])?.dims)];

const constantOfShape: Rule = (node, context) => {
  const value = tensorAttribute(node, 'value');
  const dims = context.values(node.input[0]);
  const length = context.facts(node.input[0])?.dims?.[0];
  return [facts(value?.dataType ?? DataType.FLOAT, dims ?? (length === undefined ? undefined : new Array<StaticDim>(length).fill(undefined)))];
};

const split: Rule = (node, context) => {
  const x = context.facts(node.input[0]);
  if (!x?.dims) return node.output.map(() => facts(x?.elemType, undefined));
  const axis = normalizeAxis(intAttribute(node, 'axis', 0), x.dims.length);
  const sizes = intsAttribute(node, 'split') ?? context.values(node.input[1]);
  const total = x.dims[axis];
  return node.output.map((_, index) => {
    const size = sizes?.[index] ?? (total === undefined ? undefined : total / node.output.length);
    return facts(x.elemType, x.dims!.map((dim, i) => (i === axis ? (Number.isInteger(size) ? size : undefined) : dim)));
  });
};

const UNARY = [
  'Abs', 'Acos', 'Acosh', 'Asin', 'Asinh', 'Atan', 'Atanh', 'BatchNormalization', 'Celu', 'Ceil', 'Clip', 'Cos', 'Cosh',
  'CumSum', 'DepthToSpace', 'Dropout', 'Elu', 'Erf', 'Exp', 'Floor', 'Gelu', 'HardSigmoid', 'HardSwish', 'Hardmax', 'Identity',
  'InstanceNormalization', 'LRN', 'LayerNormalization', 'LeakyRelu', 'Log', 'LogSoftmax', 'LpNormalization',
  'MeanVarianceNormalization', 'Mish', 'Neg', 'Reciprocal', 'Relu', 'Round', 'Selu', 'Shrink', 'Sigmoid', 'Sign', 'Sin',
  'Sinh', 'Softmax', 'Softplus', 'Softsign', 'Sqrt', 'Tan', 'Tanh', 'ThresholdedRelu',
];
const BROADCASTING = ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Mod', 'PRelu', 'Max', 'Min', 'Sum', 'Mean', 'Where', 'BitShift'];
const COMPARISONS = ['Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Xor'];

/** Rules by op type (ai.onnx only). */
export const RULES: ReadonlyMap<string, Rule> = new Map<string, Rule>([
  ...UNARY.map((op): [string, Rule] => [op, sameAsInput]),
  ...BROADCASTING.map((op): [string, Rule] => [op, broadcasting()]),
  ...COMPARISONS.map((op): [string, Rule] => [op, broadcasting(DataType.BOOL)]),
  ['Not', sameAsInput],
  ['IsNaN', (node, context) => [facts(DataType.BOOL, context.facts(node.input[0])?.dims)]],
  ['Conv', windowed('conv')],
  ['MaxPool', windowed('pool')],
  ['AveragePool', windowed('pool')],
  ['LpPool', windowed('pool')],
  ['ConvTranspose', convTranspose],
  ['GlobalAveragePool', globalPool],
  ['GlobalMaxPool', globalPool],
  ['GlobalLpPool', globalPool],
  ['MatMul', matMul],
  ['Gemm', gemm],
  ['Flatten', flatten],
  ['Reshape', reshape],
  ['Transpose', transpose],
  ['Squeeze', squeeze],
  ['Unsqueeze', unsqueeze],
  ['Concat', concat],
  ['Slice', slice],
  ['Gather', gather],
  ['Split', split],
  ['Resize', resize],
  ['Upsample', resize],
  ['Shape', shape],
  ['Size', () => [facts(DataType.INT64, [])]],
  ['Cast', cast],
  ['ConstantOfShape', constantOfShape],
  ['Tile', (node, context) => [facts(context.facts(node.input[0])?.elemType, context.facts(node.input[0])?.dims?.map(() => undefined))]],
  ['Pad', (node, context) => [facts(context.facts(node.input[0])?.elemType, context.facts(node.input[0])?.dims?.map(() => undefined))]],
  ['TopK', (node, context) => {
    const dims = context.facts(node.input[0])?.dims?.map(() => undefined);
    return [facts(context.facts(node.input[0])?.elemType, dims), facts(DataType.INT64, dims)];
  }],
  ...['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'].map(
    (op): [string, Rule] => [op, reduce()],
  ),
  ['ArgMax', reduce(DataType.INT64, 0)],
  ['ArgMin', reduce(DataType.INT64, 0)],
  ['Expand', expand],
]);
