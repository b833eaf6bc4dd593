/**
 * equalize-cross-layer: cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization
 * Through Weight Equalization and Bias Correction"). For two convs in a row, Conv1 → f → Conv2
 * with f positive-homogeneous (f(x/s) = f(x)/s for s > 0: nothing, Relu, LeakyRelu, PRelu),
 * output channel i of Conv1 can be divided by s_i and input channel i of Conv2 multiplied by
 * s_i without changing the function. With r1_i the range of Conv1's output channel i and r2_i
 * that of Conv2's input channel i, s_i = √(r1_i / r2_i) gives both the range √(r1_i·r2_i):
 * channels that BatchNorm folding left tiny or huge (depthwise convs above all) meet in the
 * middle, and per-tensor weights and activations lose far less to the largest channel.
 * Chains (pointwise → depthwise → pointwise) are swept until the scales settle.
 *
 * Not across Clip/ReLU6 (min(x, 6)/s ≠ min(x/s, 6)), Add, Concat or a tensor read twice.
 * Weights and biases read by any other node are left alone. FP32 outputs change only by
 * float rounding (checked in the test at 1e-4 relative).
 */
import { DataType } from '../dtype.js';
import type { ModelProto, NodeProto, TensorProto } from '../gen/onnx_pb.js';
import { decodeTensor, encodeTensor } from '../tensor.js';
import { intAttribute, isOnnxOp } from './attributes.js';
import { constantInitializers, rebuildGraph, valueUses, withGraph } from './graph-tools.js';
import { unchanged, type PassResult } from './types.js';

/** Activations that commute with a positive per-channel scale. */
const HOMOGENEOUS = new Set(['Relu', 'LeakyRelu', 'PRelu']);

/** Defaults of {@link EqualizeOptions}. */
export const EQUALIZE_DEFAULTS = Object.freeze({ maxSweeps: 20, tolerance: 1e-3 });

/** Options of {@link equalizeCrossLayer}. */
export interface EqualizeOptions {
  /** Sweeps over all pairs at most. @defaultValue 20 */
  readonly maxSweeps?: number;
  /** Stop when no scale differs from 1 by more than this (relative). @defaultValue 1e-3 */
  readonly tolerance?: number;
}

/** A float weight being rescaled in place (the pass owns these copies). */
interface Weight {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** One equalizable pair with what rescaling it touches. */
interface Pair {
  readonly first: NodeProto;
  readonly w1: Weight;
  readonly b1: Weight | undefined;
  readonly w2: Weight;
  /** Conv2's group count, to find which outputs read input channel i. */
  readonly group2: number;
}

const product = (dims: readonly number[]) => dims.reduce((total, dim) => total * dim, 1);

/** Largest |w| of each output channel (row) of a conv weight [M, C/g, k…]. */
function outputRanges(w: Weight): Float64Array {
  const channels = w.dims[0]!;
  const size = product(w.dims.slice(1));
  const ranges = new Float64Array(channels);
  for (let c = 0; c < channels; c++) for (let i = c * size; i < (c + 1) * size; i++) ranges[c] = Math.max(ranges[c]!, Math.abs(w.data[i]!));
  return ranges;
}

/** Calls `visit(index)` for every element of Conv2's weight that reads input channel `channel`. */
function forInputChannel(w: Weight, group: number, channel: number, visit: (index: number) => void): void {
  const [outputs = 0, perGroup = 1] = w.dims;
  const taps = product(w.dims.slice(2));
  const outPerGroup = outputs / group;
  const g = Math.floor(channel / perGroup);
  const j = channel % perGroup;
  for (let o = g * outPerGroup; o < (g + 1) * outPerGroup; o++) {
    const start = (o * perGroup + j) * taps;
    for (let t = start; t < start + taps; t++) visit(t);
  }
}

/** Equalizes one pair in place; returns the largest relative change of a scale. */
function equalizePair(pair: Pair): number {
  const r1 = outputRanges(pair.w1);
  const rowSize = product(pair.w1.dims.slice(1));
  let largest = 0;
  for (let i = 0; i < r1.length; i++) {
    let r2 = 0;
    forInputChannel(pair.w2, pair.group2, i, (index) => (r2 = Math.max(r2, Math.abs(pair.w2.data[index]!))));
    if (r1[i] === 0 || r2 === 0) continue;
    const s = Math.sqrt(r1[i]! / r2);
    if (!Number.isFinite(s) || s === 1) continue;
    largest = Math.max(largest, Math.abs(s - 1));
    for (let k = i * rowSize; k < (i + 1) * rowSize; k++) pair.w1.data[k]! /= s;
    if (pair.b1) pair.b1.data[i]! /= s;
    forInputChannel(pair.w2, pair.group2, i, (index) => (pair.w2.data[index]! *= s));
  }
  return largest;
}

/**
 * Finds every Conv1 → [homogeneous activation] → Conv2 pair of the main graph whose tensors
 * in between are read once, whose weights (and Conv1's bias) are constant float32 read by
 * that conv alone, and whose channel counts line up.
 */
function findPairs(model: ModelProto, weights: Map<string, Weight>): Pair[] {
  const graph = model.graph!;
  const constants = constantInitializers(model, graph);
  const uses = valueUses(graph);
  const outputs = new Set(graph.output.map((output) => output.name));
  const producers = new Map<string, NodeProto>();
  for (const node of graph.node) for (const output of node.output) if (output) producers.set(output, node);
  const readOnceBy = (name: string, reader: NodeProto) => !outputs.has(name) && (uses.get(name) ?? []).length === 1 && uses.get(name)![0] === reader;
  const owned = (name: string | undefined, reader: NodeProto): Weight | undefined => {
    const tensor: TensorProto | undefined = name ? constants.get(name) : undefined;
    if (!tensor || tensor.dataType !== DataType.FLOAT || !readOnceBy(tensor.name, reader)) return undefined;
    let weight = weights.get(tensor.name);
    if (!weight) {
      const decoded = decodeTensor(tensor);
      weight = { name: tensor.name, dims: decoded.dims, data: Float32Array.from(decoded.data as Float32Array) };
      weights.set(tensor.name, weight);
    }
    return weight;
  };
  const pairs: Pair[] = [];
  for (const second of graph.node) {
    if (!isOnnxOp(second, 'Conv')) continue;
    let between = producers.get(second.input[0] ?? '');
    let reader = second;
    if (between && isOnnxOp(between) && HOMOGENEOUS.has(between.opType)) {
      if (!readOnceBy(second.input[0]!, second)) continue;
      reader = between;
      between = producers.get(between.input[0] ?? '');
    }
    const first = between;
    if (!first || !isOnnxOp(first, 'Conv') || first.output.length !== 1 || !readOnceBy(first.output[0]!, reader)) continue;
    const w1 = owned(first.input[1], first);
    const w2 = owned(second.input[1], second);
    const b1 = first.input[2] ? owned(first.input[2], first) : undefined;
    if (!w1 || !w2 || (first.input[2] && !b1)) continue;
    const group2 = intAttribute(second, 'group', 1);
    if (w1.dims[0] !== w2.dims[1]! * group2 || (b1 && b1.data.length !== w1.dims[0])) continue;
    pairs.push({ first, w1, b1, w2, group2 });
  }
  return pairs;
}

/**
 * Equalizes every eligible conv pair of the main graph; `changes` is the number of pairs.
 * @example equalizeCrossLayer(foldBatchNorm(model).model).changes // 34 on MobileNetV2 with ReLU
 */
export function equalizeCrossLayer(model: ModelProto, options: EqualizeOptions = {}): PassResult {
  if (!model.graph) return unchanged(model);
  const weights = new Map<string, Weight>();
  const pairs = findPairs(model, weights);
  if (pairs.length === 0) return unchanged(model, ['no Conv → (Relu) → Conv pair to equalize']);
  const maxSweeps = options.maxSweeps ?? EQUALIZE_DEFAULTS.maxSweeps;
  const tolerance = options.tolerance ?? EQUALIZE_DEFAULTS.tolerance;
  let sweeps = 0;
  for (let change = Infinity; sweeps < maxSweeps && change > tolerance; sweeps++) {
    change = 0;
    for (const pair of pairs) change = Math.max(change, equalizePair(pair));
  }
  const rewritten = [...weights.values()];
  const graph = rebuildGraph(model.graph, {
    removeInitializers: rewritten.map((weight) => weight.name),
    addInitializers: rewritten.map((weight) => encodeTensor({ name: weight.name, dataType: DataType.FLOAT, dims: weight.dims, data: weight.data })),
  });
  return { model: withGraph(model, graph), changes: pairs.length, notes: [`${pairs.length} conv pairs equalized in ${sweeps} sweeps`] };
}
