/**
 * Shape rules for ops with spatial windows or matrix products: Conv, ConvTranspose, pools,
 * Resize/Upsample, MatMul and Gemm.
 */
import type { NodeProto } from '../gen/onnx_pb.js';
import { intAttribute, intsAttribute, stringAttribute } from './attributes.js';
import { broadcastDims, facts, type Rule, type StaticDim } from './shape-rules-common.js';

/** Output size of one spatial axis of a convolution or pooling window. */
function windowSize(input: StaticDim, kernel: number, stride: number, dilation: number, pads: number, autoPad: string, ceil: boolean): StaticDim {
  if (input === undefined) return undefined;
  const effective = (kernel - 1) * dilation + 1;
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(input / stride);
  if (autoPad === 'VALID') return Math.floor((input - effective) / stride) + 1;
  const size = (input + pads - effective) / stride + 1;
  return ceil ? Math.ceil(size) : Math.floor(size);
}

export const windowed =
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

export const convTranspose: Rule = (node, context) => {
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

export const globalPool: Rule = (node, context) => {
  const x = context.facts(node.input[0]);
  return [facts(x?.elemType, x?.dims?.map((dim, axis) => (axis < 2 ? dim : 1)))];
};

export const matMul: Rule = (node, context) => {
  const a = context.facts(node.input[0]);
  const b = context.facts(node.input[1])?.dims;
  if (!a?.dims || !b) return [facts(a?.elemType, undefined)];
  if (a.dims.length === 1 && b.length === 1) return [facts(a.elemType, [])];
  if (a.dims.length === 1) return [facts(a.elemType, [...b.slice(0, -2), b[b.length - 1]])];
  if (b.length === 1) return [facts(a.elemType, a.dims.slice(0, -1))];
  const batch = broadcastDims([a.dims.slice(0, -2), b.slice(0, -2)]);
  return [facts(a.elemType, batch ? [...batch, a.dims[a.dims.length - 2], b[b.length - 1]] : undefined)];
};

export const gemm: Rule = (node, context) => {
  const a = context.facts(node.input[0]);
  const b = context.facts(node.input[1])?.dims;
  const m = a?.dims?.[intAttribute(node, 'transA', 0) ? 1 : 0];
  const n = b?.[intAttribute(node, 'transB', 0) ? 0 : 1];
  return [facts(a?.elemType, [m, n])];
};

export const resize: Rule = (node, context) => {
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

