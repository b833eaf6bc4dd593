/**
 * Index arithmetic on decoded tensors for constant folding: strides, broadcasting, and the
 * gather of elements along strided walks that Transpose, Slice, Expand and binary ops share.
 * Works on any typed array (int64 as BigInt64Array), since it only moves elements.
 */
import type { TensorData } from '../dtype.js';

/** Row-major strides of a shape. */
export function stridesOf(dims: readonly number[]): number[] {
  const strides = new Array<number>(dims.length).fill(1);
  for (let axis = dims.length - 2; axis >= 0; axis--) strides[axis] = strides[axis + 1]! * dims[axis + 1]!;
  return strides;
}

export function countOf(dims: readonly number[]): number {
  return dims.reduce((product, dim) => product * dim, 1);
}

/** A new typed array of the same kind as `like`. */
export function allocateLike(like: TensorData, count: number): Exclude<TensorData, string[]> {
  const Ctor = like.constructor as new (length: number) => Exclude<TensorData, string[]>;
  return new Ctor(count);
}

/**
 * The source offset of every element of an `outDims` walk that starts at `base` and moves
 * `steps[axis]` source elements per step along each axis (0 for a broadcast axis).
 */
export function walkOffsets(outDims: readonly number[], steps: readonly number[], base = 0): Float64Array {
  const count = countOf(outDims);
  const offsets = new Float64Array(count);
  const rank = outDims.length;
  const index = new Array<number>(rank).fill(0);
  let offset = base;
  for (let flat = 0; flat < count; flat++) {
    offsets[flat] = offset;
    for (let axis = rank - 1; axis >= 0; axis--) {
      index[axis]!++;
      offset += steps[axis]!;
      if (index[axis]! < outDims[axis]!) break;
      offset -= steps[axis]! * outDims[axis]!;
      index[axis] = 0;
    }
  }
  return offsets;
}

/** Copies `data[offsets[i]]` into a new array of the same kind. */
export function gatherOffsets(data: TensorData, offsets: Float64Array): Exclude<TensorData, string[]> {
  const source = data as ArrayLike<number | bigint>;
  const result = allocateLike(data, offsets.length) as unknown as (number | bigint)[];
  for (let index = 0; index < offsets.length; index++) result[index] = source[offsets[index]!]!;
  return result as unknown as Exclude<TensorData, string[]>;
}

/** Numpy broadcasting of two or more shapes, or undefined when they do not broadcast. */
export function broadcastShapes(shapes: readonly (readonly number[])[]): number[] | undefined {
  const rank = Math.max(0, ...shapes.map((shape) => shape.length));
  const result: number[] = [];
  for (let axis = 0; axis < rank; axis++) {
    let dim = 1;
    for (const shape of shapes) {
      const own = axis < rank - shape.length ? 1 : shape[axis - (rank - shape.length)]!;
      if (own === 1) continue;
      if (dim !== 1 && dim !== own) return undefined;
      dim = own;
    }
    result.push(dim);
  }
  return result;
}

/** Steps that walk a tensor of `dims` broadcast to `outDims` (0 along stretched axes). */
export function broadcastSteps(dims: readonly number[], outDims: readonly number[]): number[] {
  const strides = stridesOf(dims);
  const shift = outDims.length - dims.length;
  return outDims.map((_, axis) => {
    const own = axis - shift;
    return own < 0 || dims[own] === 1 ? 0 : strides[own]!;
  });
}

/** Normalizes a possibly negative axis against a rank. */
export function normalizeAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}
