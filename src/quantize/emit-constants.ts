import { makeNode } from '../onnx/build.js';
import { DataType } from '../onnx/dtype.js';
import type { NodeProto, TensorProto } from '../onnx/gen/onnx_pb.js';
import type { GraphView } from '../onnx/graph.js';
import { encodeTensor, type DecodedTensor } from '../onnx/tensor.js';
import { computeQuantParams, quantizeValue, type QuantParams } from './math.js';
import type { ResolvedQuantizeOptions } from './options.js';
import { minimumWeightScales, quantizeBias, quantizeWeight, weightSqnrDb, type QuantizedWeight } from './weights.js';

type IntegerData = Int8Array | Uint8Array | Int32Array | Float32Array;

/**
 * Collects the initializers and DequantizeLinear nodes an emission adds, with names that do not
 * collide with anything already in the graph (`x_q`, `x_scale`, `x_zp`, `x_dq`).
 */
export class ConstantSink {
  readonly initializers: TensorProto[] = [];
  readonly #used = new Set<string>();

  constructor(view: GraphView) {
    for (const node of view.nodes) {
      for (const name of [...node.input, ...node.output, node.name]) if (name) this.#used.add(name);
    }
    for (const name of view.initializerNames) this.#used.add(name);
    for (const info of [...view.graph.input, ...view.graph.output]) this.#used.add(info.name);
  }

  /** A fresh name: `wanted`, or `wanted_1`, `wanted_2`… when taken. */
  name(wanted: string): string {
    let name = wanted;
    for (let suffix = 1; this.#used.has(name); suffix++) name = `${wanted}_${suffix}`;
    this.#used.add(name);
    return name;
  }

  add(wanted: string, dataType: DataType, dims: readonly number[], data: IntegerData): string {
    const name = this.name(wanted);
    this.initializers.push(encodeTensor({ name, dataType, dims, data }));
    return name;
  }

  /** Scale (and zero point, when given) initializers plus a DequantizeLinear reading `quantized`. */
  dequantize(base: string, quantized: string, scales: Float32Array, zeroPoints: { type: DataType; data: IntegerData } | undefined, axis?: number): {
    node: NodeProto;
    output: string;
  } {
    const dims = scales.length === 1 ? [] : [scales.length];
    const scale = this.add(`${base}_scale`, DataType.FLOAT, dims, scales);
    const inputs = [quantized, scale];
    if (zeroPoints) inputs.push(this.add(`${base}_zp`, zeroPoints.type, dims, zeroPoints.data));
    const output = this.name(`${base}_dq`);
    const perAxis = axis !== undefined && scales.length > 1;
    return { node: makeNode('DequantizeLinear', inputs, [output], perAxis ? { attributes: { axis } } : {}), output };
  }
}

/** A weight stored as int8 with its DequantizeLinear. */
export interface EmittedWeight {
  readonly weight: QuantizedWeight;
  readonly node: NodeProto;
  readonly output: string;
}

/**
 * Quantizes a float weight (symmetric int8, per channel or per tensor). When the node has a
 * bias, channels whose scale is too small for an int32 bias are widened first (spec §3).
 */
export function emitWeight(
  sink: ConstantSink,
  name: string,
  tensor: DecodedTensor,
  axis: number | undefined,
  options: ResolvedQuantizeOptions,
  biasGuard?: { readonly bias: Float32Array; readonly inputScale: number },
): EmittedWeight & { readonly widened: number; readonly sqnrDb: number } {
  const values = tensor.data as Float32Array;
  const plain = quantizeWeight(values, tensor.dims, axis, options.weightRange);
  let weight = plain;
  let widened = 0;
  if (biasGuard && !weightFitsBias(plain, biasGuard)) {
    weight = quantizeWeight(values, tensor.dims, axis, options.weightRange, minimumWeightScales(biasGuard.bias, biasGuard.inputScale));
    widened = weight.scales.filter((scale, channel) => scale !== plain.scales[channel]).length;
  }
  const quantized = sink.add(`${name}_q`, DataType.INT8, tensor.dims, weight.data);
  const { node, output } = sink.dequantize(name, quantized, weight.scales, { type: DataType.INT8, data: weight.zeroPoints }, weight.axis);
  return { weight, node, output, widened, sqnrDb: weightSqnrDb(values, tensor.dims, weight) };
}

/** True when every channel's scale is wide enough for its int32 bias (see {@link minimumWeightScales}). */
export function weightFitsBias(weight: QuantizedWeight, guard: { readonly bias: Float32Array; readonly inputScale: number }): boolean {
  const minScales = minimumWeightScales(guard.bias, guard.inputScale);
  return minScales.every((minimum, channel) => weight.scales[weight.scales.length === 1 ? 0 : channel]! >= minimum);
}

/** An int32 bias with scale = input scale × weight scale; zero point omitted (ONNX default 0). */
export function emitBias(
  sink: ConstantSink,
  name: string,
  bias: Float32Array,
  inputScale: number,
  weight: QuantizedWeight,
): { node: NodeProto; output: string; clipped: number } {
  const quantized = quantizeBias(bias, inputScale, weight.scales);
  const tensor = sink.add(`${name}_q`, DataType.INT32, [bias.length], quantized.data);
  const { node, output } = sink.dequantize(name, tensor, quantized.scales, undefined, 0);
  return { node, output, clipped: quantized.clipped };
}

/** A constant operand (an Add's or Mul's) quantized like an activation, from its own range. */
export function emitConstant(sink: ConstantSink, name: string, tensor: DecodedTensor, options: ResolvedQuantizeOptions): { node: NodeProto; output: string } {
  const values = tensor.data as Float32Array;
  let low = 0;
  let high = 0;
  for (const value of values) {
    if (value < low) low = value;
    if (value > high) high = value;
  }
  const params: QuantParams = computeQuantParams(low, high, options.activationRange, false);
  const integers = Array.from(values, (value) => quantizeValue(value, params, options.activationRange));
  const { type, zeroPoint } = activationZeroPoint(options, params.zeroPoint);
  const data = type === DataType.UINT8 ? Uint8Array.from(integers) : Int8Array.from(integers);
  const quantized = sink.add(`${name}_q`, type, tensor.dims, data);
  return sink.dequantize(name, quantized, Float32Array.of(params.scale), { type, data: zeroPoint });
}

/** The activation zero point as a one-element tensor of the scheme's type. */
export function activationZeroPoint(options: ResolvedQuantizeOptions, zeroPoint: number): { type: DataType; zeroPoint: Uint8Array | Int8Array } {
  return options.activationType === 'uint8'
    ? { type: DataType.UINT8, zeroPoint: Uint8Array.of(zeroPoint) }
    : { type: DataType.INT8, zeroPoint: Int8Array.of(zeroPoint) };
}
