/**
 * Types and helpers shared by the shape rules: what a rule sees, broadcasting, axes operands
 * (an attribute before opset 13, a constant input after) and Slice's clamping.
 */
import type { NodeProto } from '../gen/onnx_pb.js';
import { intsAttribute } from './attributes.js';

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

export type Rule = (node: NodeProto, context: ShapeContext) => (TensorFacts | undefined)[] | undefined;
export type Dims = readonly StaticDim[];

/** Builds a facts record. */
export const facts = (elemType: number | undefined, dims: Dims | undefined): TensorFacts => ({ elemType, dims });

/** Product of the dims, undefined when any is unknown. */
export function product(dims: Dims): StaticDim {
  let result = 1;
  for (const dim of dims) {
    if (dim === undefined) return undefined;
    result *= dim;
  }
  return result;
}

/** A possibly negative axis counted from the front. */
export function normalizeAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** Axes from the `axes` attribute (older opsets) or the constant input at `index`. */
export function axesOf(node: NodeProto, context: ShapeContext, index: number): number[] | undefined {
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

