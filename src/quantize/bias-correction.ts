/**
 * Empirical bias correction (Nagel et al. 2019, §4.2): rounding a weight to INT8 changes it
 * by ε = W_q − W, which shifts every output channel by the expected value E[ε·x] = ε·E[x].
 * Averaged over a layer that shift does not cancel (above all in depthwise convs, with nine
 * weights per channel), and the next layer sees it as a bias error. Measuring E[x] per input
 * channel on the calibration data and subtracting ε·E[x] from the float bias before emitting
 * makes the INT8 layer's mean output equal the FP32 one. Borders are treated as if every
 * window saw the channel mean (zero padding makes the true shift slightly smaller there).
 */
import { create } from '@bufbuild/protobuf';
import { DataType } from '../onnx/dtype.js';
import { editModel } from '../onnx/edit.js';
import { ValueInfoProtoSchema, type ModelProto, type NodeProto } from '../onnx/gen/onnx_pb.js';
import { GraphView } from '../onnx/graph.js';
import { encodeModel } from '../onnx/model-io.js';
import { decodeTensor, encodeTensor } from '../onnx/tensor.js';
import { Engine } from '../runtime/engine.js';
import type { CalibrationSource } from './data/types.js';
import type { ResolvedQuantizeOptions } from './options.js';
import { nodeLabel } from './plan.js';
import { quantizeWeight } from './weights.js';

/** Ops whose bias is corrected: a constant weight and a 1-D constant bias per output channel. */
const CORRECTED_OPS = new Set(['Conv', 'Gemm']);

const attribute = (node: NodeProto, name: string, fallback: number) => {
  const found = node.attribute.find((a) => a.name === name);
  return found ? (found.f !== 0 ? found.f : Number(found.i)) : fallback;
};

/** The nodes among `labels` whose bias can be corrected. */
function correctable(view: GraphView, labels: ReadonlySet<string>): NodeProto[] {
  return view.nodes.filter((node) => {
    if (!CORRECTED_OPS.has(node.opType) || !labels.has(nodeLabel(node))) return false;
    const weight = view.initializer(node.input[1] ?? '');
    const bias = view.initializer(node.input[2] ?? '');
    if (!weight || !bias || weight.dataType !== DataType.FLOAT || bias.dataType !== DataType.FLOAT || bias.dims.length !== 1) return false;
    return node.opType === 'Conv' || attribute(node, 'transA', 0) === 0;
  });
}

/**
 * Mean of each channel of every listed node's data input over the calibration data: channel
 * axis 1 for Conv ([N, C, …]), the last axis for Gemm ([M, K]). One run per sample with those
 * tensors exposed as outputs; the sums are kept, never the tensors.
 */
export async function measureInputMeans(model: ModelProto, labels: ReadonlySet<string>, source: CalibrationSource, intraOpThreads = 0): Promise<Map<string, Float64Array>> {
  const view = new GraphView(model.graph!);
  const nodes = correctable(view, labels);
  const tensors = [...new Set(nodes.map((node) => node.input[0]!))];
  const existing = new Set(model.graph!.output.map((output) => output.name));
  const extra = tensors.filter((name) => !existing.has(name)).map((name) => create(ValueInfoProtoSchema, { name }));
  const engine = await Engine.load(encodeModel(editModel(model, { outputs: [...model.graph!.output, ...extra] })), {
    graphOptimizationLevel: 'disabled',
    intraOpThreads,
    label: 'bias correction model',
  });
  const sums = new Map<string, { sum: Float64Array; count: number }>();
  const axisOf = new Map(nodes.map((node) => [node.input[0]!, node.opType === 'Conv' ? 1 : -1]));
  try {
    for await (const sample of source.samples()) {
      const outputs = await engine.run(sample, tensors);
      for (const name of tensors) {
        const tensor = outputs[name];
        if (!tensor || tensor.type !== 'float32') continue;
        const axis = axisOf.get(name)! < 0 ? tensor.dims.length - 1 : 1;
        const channels = tensor.dims[axis]!;
        const inner = tensor.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
        const entry = sums.get(name) ?? { sum: new Float64Array(channels), count: 0 };
        const data = tensor.data as Float32Array;
        for (let i = 0; i < data.length; i++) entry.sum[Math.floor(i / inner) % channels]! += data[i]!;
        entry.count += data.length / channels;
        sums.set(name, entry);
      }
    }
  } finally {
    await engine.release();
  }
  return new Map([...sums].map(([name, { sum, count }]) => [name, sum.map((value) => value / count)]));
}

/** ε·E[x] per output channel of one node. */
function outputShift(node: NodeProto, weight: Float32Array, dims: readonly number[], means: Float64Array, options: ResolvedQuantizeOptions): Float64Array {
  const isConv = node.opType === 'Conv';
  const transB = !isConv && attribute(node, 'transB', 0) === 1;
  const axis = options.perChannel ? (isConv || transB ? 0 : 1) : undefined;
  const q = quantizeWeight(weight, dims, axis, options.weightRange);
  const error = (index: number, channel: number) => q.data[index]! * q.scales[q.axis === undefined ? 0 : channel]! - weight[index]!;
  if (isConv) {
    const [outputs = 0, perGroup = 1] = dims;
    const taps = dims.slice(2).reduce((a, b) => a * b, 1);
    const outPerGroup = outputs / (means.length / perGroup);
    return Float64Array.from({ length: outputs }, (_, o) => {
      let shift = 0;
      const firstInput = Math.floor(o / outPerGroup) * perGroup;
      for (let j = 0; j < perGroup; j++) for (let t = 0; t < taps; t++) {
        const index = (o * perGroup + j) * taps + t;
        shift += error(index, o) * means[firstInput + j]!;
      }
      return shift;
    });
  }
  const [rows = 0, columns = 0] = dims;
  const outputs = transB ? rows : columns;
  const alpha = attribute(node, 'alpha', 1);
  return Float64Array.from({ length: outputs }, (_, n) => {
    let shift = 0;
    for (let k = 0; k < (transB ? columns : rows); k++) {
      const index = transB ? n * columns + k : k * columns + n;
      shift += error(index, n) * means[k]!;
    }
    return alpha * shift;
  });
}

/**
 * Returns `model` with the bias of every correctable node among `labels` lowered by the mean
 * output shift its INT8 weight will cause, computed with the same weight quantization the
 * emitter uses (`options`). A bias read by another node is left alone.
 * @returns the model and how many biases changed
 */
export function correctBiases(model: ModelProto, means: ReadonlyMap<string, Float64Array>, labels: ReadonlySet<string>, options: ResolvedQuantizeOptions): { model: ModelProto; corrected: number } {
  const view = new GraphView(model.graph!);
  const readers = new Map<string, number>();
  for (const node of view.nodes) for (const input of node.input) readers.set(input, (readers.get(input) ?? 0) + 1);
  const replaced = [];
  for (const node of correctable(view, labels)) {
    const mean = means.get(node.input[0]!);
    const biasName = node.input[2]!;
    if (!mean || readers.get(biasName) !== 1) continue;
    const weight = decodeTensor(view.initializer(node.input[1]!)!);
    const bias = decodeTensor(view.initializer(biasName)!);
    const shift = outputShift(node, weight.data as Float32Array, weight.dims, mean, options);
    if (shift.length !== bias.data.length) continue;
    const beta = node.opType === 'Gemm' ? attribute(node, 'beta', 1) : 1;
    const data = Float32Array.from(bias.data as Float32Array, (value, channel) => value - shift[channel]! / beta);
    replaced.push(encodeTensor({ name: biasName, dataType: DataType.FLOAT, dims: bias.dims, data }));
  }
  if (replaced.length === 0) return { model, corrected: 0 };
  const next = editModel(model, { removeInitializers: replaced.map((tensor) => tensor.name), addInitializers: replaced });
  return { model: next, corrected: replaced.length };
}
