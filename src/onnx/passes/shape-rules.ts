/**
 * Per-op rules for {@link inferShapes}: output element type and dims from the inputs' facts and
 * the values of small constant operands. Each rule follows the op's ONNX definition for the
 * opsets kiln reads (attribute forms before opset 13, input forms after).
 */
import { DataType } from '../dtype.js';
import type { NodeProto } from '../gen/onnx_pb.js';
import { intAttribute, intsAttribute, stringAttribute, tensorAttribute } from './attributes.js';

/** One dimension: a number when static, undefined when not known. */
export type StaticDim = number | undefined;

/** What is known about a tensor value. */
export interface TensorFacts {
  readonly elemType: number | undefined;
  /** Undefined when even the rank is unknown. */
  readonly dims: readonly StaticDim[] | undefined;
}

/** What a rule may look at. */
export interface ShapeContext {
  facts(name: string | undefined): TensorFacts | undefined;
  /** Values of a small constant tensor (initializer or Constant), as numbers. */
  values(name: string | undefined): number[] | undefined;
}

type Rule = (node: NodeProto, context: ShapeContext) => (TensorFacts | undefined)[] | undefined;
type Dims = readonly StaticDim[];

const facts = (elemType: number | undefined, dims: Dims | undefined): TensorFacts => ({ elemType, dims });

function product(dims: Dims): StaticDim {
  let result = 1;
  for (const dim of dims) {
    if (dim === undefined) return undefined;
    result *= dim;
  }
  return result;
}

function normalizeAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** Axes from the `axes` attribute (older opsets) or the constant input at `index`. */
function axesOf(node: NodeProto, context: ShapeContext, index: number): number[] | undefined {
  return intsAttribute(node, 'axes') ?? context.values(node.input[index]);
}

/** Multidirectional (numpy) broadcasting of several shapes. */
export function broadcastDims(shapes: readonly (Dims | undefined)[]): StaticDim[] | undefined {
  if (shapes.some((shape) => shape === undefined)) return undefined;
  const rank = Math.max(0, ...shapes.map((shape) => shape!.length));
  const result: StaticDim[] = [];
  for (let axis = 0; axis < rank; axis++) {
    const own = shapes.map((shape) => (axis < rank - shape!.length ? 1 : shape![axis - (rank - shape!.length)]));
    const fixed = own.find((dim) => dim !== undefined && dim !== 1);
    result.push(fixed ?? (own.includes(undefined) ? undefined : 1));
  }
  return result;
}

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

/** Output size of one spatial axis of a convolution or pooling window. */
function windowSize(input: StaticDim, kernel: number, stride: number, dilation: number, pads: number, autoPad: string, ceil: boolean): StaticDim {
  if (input === undefined) return undefined;
  const effective = (kernel - 1) * dilation + 1;
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(input / stride);
  if (autoPad === 'VALID') return Math.floor((input - effective) / stride) + 1;
  const size = (input + pads - effective) / stride + 1;
  return ceil ? Math.ceil(size) : Math.floor(size);
}

const windowed =
  (kind: 'conv' | 'pool'): Rule =>
  (node, context) => {
    const x = context.facts(node.input[0]);
    if (!x?.dims) return [facts(x?.elemType, undefined)];
    const spatial = x.dims.length - 2;
    const weight = kind === 'conv' ? context.facts(node.input[1])?.dims : undefined;
    const kernel = intsAttribute(node, 'kernel_shape') ?? weight?.slice(2).map((dim) => dim ?? Number.NaN);
    const pads = intsAttribute(node, 'pads') ?? new Array<number>(2 * spatial).fill(0);
    const strides = intsAttribute(node, 'strides') ?? new Array<number>(spatial).fill(1);
    const dilations = intsAttribute(node, 'dilations') ?? new Array<number>(spatial).fill(1);
    const autoPad = stringAttribute(node, 'auto_pad', 'NOTSET');
    const ceil = intAttribute(node, 'ceil_mode', 0) === 1;
    const channels = kind === 'conv' ? weight?.[0] : x.dims[1];
    const dims: StaticDim[] = [x.dims[0], channels];
    for (let axis = 0; axis < spatial; axis++) {
      const k = kernel?.[axis];
      dims.push(
        k === undefined || Number.isNaN(k)
          ? undefined
          : windowSize(x.dims[axis + 2], k, strides[axis] ?? 1, dilations[axis] ?? 1, (pads[axis] ?? 0) + (pads[axis + spatial] ?? 0), autoPad, ceil),
      );
    }
    return [facts(x.elemType, dims), ...node.output.slice(1).map(() => undefined)];
  };

const convTranspose: Rule = (node, context) => {
  const x = context.facts(node.input[0]);
  const weight = context.facts(node.input[1])?.dims;
  if (!x?.dims) return [facts(x?.elemType, undefined)];
  const spatial = x.dims.length - 2;
  const group = intAttribute(node, 'group', 1);
  const channels = weight?.[1] === undefined ? undefined : weight[1] * group;
  const explicit = intsAttribute(node, 'output_shape');
  const kernel = intsAttribute(node, 'kernel_shape') ?? weight?.slice(2);
  const pads = intsAttribute(node, 'pads') ?? new Array<number>(2 * spatial).fill(0);
  const strides = intsAttribute(node, 'strides') ?? new Array<number>(spatial).fill(1);
  const dilations = intsAttribute(node, 'dilations') ?? new Array<number>(spatial).fill(1);
  const outputPadding = intsAttribute(node, 'output_padding') ?? new Array<number>(spatial).fill(0);
  const autoPad = stringAttribute(node, 'auto_pad', 'NOTSET');
  const dims: StaticDim[] = [x.dims[0], channels];
  for (let axis = 0; axis < spatial; axis++) {
    const input = x.dims[axis + 2];
    const k = kernel?.[axis];
    if (explicit) dims.push(explicit[explicit.length - spatial + axis]);
    else if (input === undefined || k === undefined) dims.push(undefined);
    else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') dims.push(input * (strides[axis] ?? 1));
    else {
      const s = strides[axis] ?? 1;
      const total = (pads[axis] ?? 0) + (pads[axis + spatial] ?? 0);
      dims.push(s * (input - 1) + (outputPadding[axis] ?? 0) + (k - 1) * (dilations[axis] ?? 1) + 1 - total);
    }
  }
  return [facts(x.elemType, dims)];
};

const globalPool: Rule = (node, context) => {
  const x = context.facts(node.input[0]);
  return [facts(x?.elemType, x?.dims?.map((dim, axis) => (axis < 2 ? dim : 1)))];
};

const matMul: Rule = (node, context) => {
  const a = context.facts(node.input[0]);
  const b = context.facts(node.input[1])?.dims;
  if (!a?.dims || !b) return [facts(a?.elemType, undefined)];
  if (a.dims.length === 1 && b.length === 1) return [facts(a.elemType, [])];
  if (a.dims.length === 1) return [facts(a.elemType, [...b.slice(0, -2), b[b.length - 1]])];
  if (b.length === 1) return [facts(a.elemType, a.dims.slice(0, -1))];
  const batch = broadcastDims([a.dims.slice(0, -2), b.slice(0, -2)]);
  return [facts(a.elemType, batch ? [...batch, a.dims[a.dims.length - 2], b[b.length - 1]] : undefined)];
};

const gemm: Rule = (node, context) => {
  const a = context.facts(node.input[0]);
  const b = context.facts(node.input[1])?.dims;
  const m = a?.dims?.[intAttribute(node, 'transA', 0) ? 1 : 0];
  const n = b?.[intAttribute(node, 'transB', 0) ? 0 : 1];
  return [facts(a?.elemType, [m, n])];
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

/** Elements a Slice keeps along one axis (ONNX clamping rules). */
export function sliceLength(size: number, start: number, end: number, step: number): number {
  const clamp = (value: number, low: number, high: number) => Math.min(Math.max(value, low), high);
  let from = start < 0 ? start + size : start;
  let to = end < 0 ? end + size : end;
  if (step > 0) {
    from = clamp(from, 0, size);
    to = clamp(to, 0, size);
    return Math.max(0, Math.ceil((to - from) / step));
  }
  from = clamp(from, 0, size - 1);
  to = clamp(to, -1, size - 1);
  return Math.max(0, Math.ceil((to - from) / step));
}

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

const resize: Rule = (node, context) => {
  const x = context.facts(node.input[0]);
  if (!x?.dims) return [facts(x?.elemType, undefined)];
  const scaleIndex = node.opType === 'Resize' && node.input.length > 2 ? 2 : 1;
  const scales = (node.opType === 'Upsample' ? node.attribute.find((a) => a.name === 'scales')?.floats : undefined) ?? context.values(node.input[scaleIndex]);
  const sizes = node.opType === 'Resize' ? context.values(node.input[3]) : undefined;
  const dims = x.dims.map((dim, axis) => {
    if (sizes && sizes.length === x.dims!.length) return sizes[axis];
    const scale = scales && scales.length === x.dims!.length ? scales[axis] : undefined;
    return dim === undefined || scale === undefined ? undefined : Math.floor(dim * scale);
  });
  return [facts(x.elemType, dims)];
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
