
import { DataType } from '../onnx/dtype.js';
import { shallowCopy } from '../onnx/edit.js';
import { makeNode } from '../onnx/build.js';
import { GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, type ModelProto, type NodeProto, type TensorProto } from '../onnx/gen/onnx_pb.js';
import { GraphView } from '../onnx/graph.js';
import { decodeTensor, encodeTensor } from '../onnx/tensor.js';
import { KilnError } from '../core/errors.js';
import { computeQuantParams, quantizeValue, type QuantParams } from './math.js';
import type { ResolvedQuantizeOptions } from './options.js';
import { nodeLabel, type QuantizationPlan } from './plan.js';
import { minimumWeightScales, quantizeBias, quantizeWeight, type QuantizedWeight } from './weights.js';

/** What emitting changed, for the report and logs. */
export interface EmitResult {
  readonly model: ModelProto;
  /** Quantized activation tensors with their parameters. */
  readonly activations: ReadonlyMap<string, QuantParams>;
  /** Weight channels whose scale was widened so the int32 bias fits. */
  readonly widenedChannels: number;
  /** Bias values still clipped to int32 (expected 0). */
  readonly clippedBiases: number;
}

/** Allocates tensor and node names that do not collide with any name already in the graph. */
class Names {
  readonly #used = new Set<string>();

  constructor(view: GraphView) {
    for (const node of view.nodes) {
      for (const name of [...node.input, ...node.output, node.name]) if (name) this.#used.add(name);
    }
    for (const name of view.initializerNames) this.#used.add(name);
    for (const info of [...view.graph.input, ...view.graph.output]) this.#used.add(info.name);
  }

  take(wanted: string): string {
    let name = wanted;
    for (let suffix = 1; this.#used.has(name); suffix++) name = `${wanted}_${suffix}`;
    this.#used.add(name);
    return name;
  }
}

/**
 * Rewrites a prepared model into QDQ form from a plan (spec §4): a shared Q → DQ pair after
 * each quantized activation, int8 weights and int32 biases as initializers read through a
 * DequantizeLinear, absorbed Relu/Clip nodes removed. Graph inputs and outputs stay float.
 * Deterministic: the same model, plan and options give the same bytes.
 */
export function emitQdq(model: ModelProto, plan: QuantizationPlan, options: ResolvedQuantizeOptions): EmitResult {
  const graph = model.graph!;
  const view = new GraphView(graph);
  const names = new Names(view);
  const activations = activationParams(plan, options);

  // Absorbed activations vanish: their producer writes the activation's output directly.
  const removed = new Set<NodeProto>(plan.absorptions.map((absorption) => absorption.activation));
  const renamedOutputs = new Map<NodeProto, Map<number, string>>();
  for (const absorption of plan.absorptions) {
    const map = renamedOutputs.get(absorption.producer) ?? new Map<number, string>();
    map.set(absorption.producerOutput, absorption.activation.output[0]!);
    renamedOutputs.set(absorption.producer, map);
  }

  const initializers: TensorProto[] = [];
  const addInitializer = (wanted: string, dataType: DataType, dims: readonly number[], data: Int8Array | Uint8Array | Int32Array | Float32Array) => {
    const name = names.take(wanted);
    initializers.push(encodeTensor({ name, dataType, dims, data }));
    return name;
  };
  const scalarOrVector = (values: Float32Array | Int8Array | Uint8Array | Int32Array) => (values.length === 1 ? [] : [values.length]);
  const activationDataType = options.activationType === 'uint8' ? DataType.UINT8 : DataType.INT8;

  // One Q → DQ pair per quantized activation, shared by every consumer.
  const dequantized = new Map<string, string>();
  const preQuantized = new Map<string, string>();
  const graphOutputs = new Set(graph.output.map((output) => output.name));
  const pairs = new Map<string, NodeProto[]>();
  for (const [tensor, params] of activations) {
    const scale = addInitializer(`${tensor}_scale`, DataType.FLOAT, [], Float32Array.of(params.scale));
    const zeroPoint = addInitializer(
      `${tensor}_zero_point`,
      activationDataType,
      [],
      options.activationType === 'uint8' ? Uint8Array.of(params.zeroPoint) : Int8Array.of(params.zeroPoint),
    );
    const q = names.take(`${tensor}_quantized`);
    // A graph output keeps its name on the DQ (float, as callers expect), and its producer writes
    // a new name: ORT fuses a node only when its output feeds nothing but the Q.
    const isOutput = graphOutputs.has(tensor);
    const floatName = isOutput ? names.take(`${tensor}_float`) : tensor;
    if (isOutput) preQuantized.set(tensor, floatName);
    const dq = isOutput ? tensor : names.take(`${tensor}_dequantized`);
    if (!isOutput) dequantized.set(tensor, dq);
    pairs.set(tensor, [
      makeNode('QuantizeLinear', [floatName, scale, zeroPoint], [q], { name: names.take(`${tensor}_QuantizeLinear`) }),
      makeNode('DequantizeLinear', [q, scale, zeroPoint], [dq], { name: names.take(`${tensor}_DequantizeLinear`) }),
    ]);
  }

  let widenedChannels = 0;
  let clippedBiases = 0;
  const weightCache = new Map<string, { weight: QuantizedWeight; dq: string; node: NodeProto }>();
  const replacedInitializers = new Set<string>();
  const nodes: NodeProto[] = [];
  const outputNames = new Map([...preQuantized].map(([tensor, floatName]) => [floatName, tensor]));
  // Graph inputs that are quantized get their pair first.
  for (const input of graph.input) nodes.push(...(pairs.get(input.name) ?? []));

  for (const node of view.topologicalOrder()) {
    if (removed.has(node)) continue;
    const nodePlan = plan.nodes.get(node);
    const copy = shallowCopy(NodeProtoSchema, node);
    // Planned nodes get a name if they had none: the fusion check finds them by it.
    if (nodePlan && !copy.name) copy.name = nodeLabel(node);
    copy.input = node.input.map((name) => dequantized.get(name) ?? name);
    const renames = renamedOutputs.get(node);
    if (renames) copy.output = node.output.map((name, index) => renames.get(index) ?? name);
    copy.output = copy.output.map((name) => preQuantized.get(name) ?? name);

    if (nodePlan) {
      const label = nodeLabel(node);
      for (const weightPlan of nodePlan.weights) {
        const name = node.input[weightPlan.input]!;
        const tensor = decodeTensor(view.initializer(name)!);
        let minScales: Float64Array | undefined;
        if (nodePlan.bias && nodePlan.bias.weight === weightPlan.input) {
          const inputParams = activations.get(node.input[nodePlan.bias.activation]!)!;
          const bias = decodeTensor(view.initializer(node.input[nodePlan.bias.input]!)!).data as Float32Array;
          minScales = minimumWeightScales(bias, inputParams.scale);
        }
        const key = `${name}|${weightPlan.axis}`;
        let cached = weightCache.get(key);
        const plain = quantizeWeight(tensor.data as Float32Array, tensor.dims, weightPlan.axis, options.weightRange);
        const needsWidening = minScales !== undefined && plain.scales.some((scale, channel) => scale < minScales![channel]!);
        if (!cached || needsWidening) {
          const weight = needsWidening ? quantizeWeight(tensor.data as Float32Array, tensor.dims, weightPlan.axis, options.weightRange, minScales) : plain;
          if (needsWidening) widenedChannels += weight.scales.filter((scale, channel) => scale !== plain.scales[channel]).length;
          const base = needsWidening ? `${name}_${label}` : name;
          const q = addInitializer(`${base}_quantized`, DataType.INT8, tensor.dims, weight.data);
          const scale = addInitializer(`${base}_scale`, DataType.FLOAT, scalarOrVector(weight.scales), weight.scales);
          const zeroPoint = addInitializer(`${base}_zero_point`, DataType.INT8, scalarOrVector(weight.zeroPoints), weight.zeroPoints);
          const dq = names.take(`${base}_dequantized`);
          const dqNode = makeNode('DequantizeLinear', [q, scale, zeroPoint], [dq], {
            name: names.take(`${base}_DequantizeLinear`),
            ...(weight.axis !== undefined && weight.scales.length > 1 ? { attributes: { axis: weight.axis } } : {}),
          });
          cached = { weight, dq, node: dqNode };
          if (!needsWidening) weightCache.set(key, cached);
          nodes.push(dqNode);
        }
        copy.input[weightPlan.input] = cached.dq;
        replacedInitializers.add(name);
        if (nodePlan.bias && nodePlan.bias.weight === weightPlan.input) {
          const biasName = node.input[nodePlan.bias.input]!;
          const inputParams = activations.get(node.input[nodePlan.bias.activation]!)!;
          const bias = decodeTensor(view.initializer(biasName)!).data as Float32Array;
          const quantized = quantizeBias(bias, inputParams.scale, cached.weight.scales);
          clippedBiases += quantized.clipped;
          // A bias shared by several nodes is duplicated: its scale depends on each node's input.
          const q = addInitializer(`${biasName}_quantized`, DataType.INT32, [bias.length], quantized.data);
          const scale = addInitializer(`${biasName}_scale`, DataType.FLOAT, scalarOrVector(quantized.scales), quantized.scales);
          const zeroPoint = addInitializer(`${biasName}_zero_point`, DataType.INT32, scalarOrVector(quantized.scales), new Int32Array(quantized.scales.length));
          const dq = names.take(`${biasName}_dequantized`);
          nodes.push(
            makeNode('DequantizeLinear', [q, scale, zeroPoint], [dq], {
              name: names.take(`${biasName}_DequantizeLinear`),
              ...(quantized.scales.length > 1 ? { attributes: { axis: 0 } } : {}),
            }),
          );
          copy.input[nodePlan.bias.input] = dq;
          replacedInitializers.add(biasName);
        }
      }
      for (const index of nodePlan.constants) {
        const name = node.input[index]!;
        const tensor = decodeTensor(view.initializer(name)!);
        const values = tensor.data as Float32Array;
        let low = 0;
        let high = 0;
        for (const value of values) {
          if (value < low) low = value;
          if (value > high) high = value;
        }
        const params = computeQuantParams(low, high, options.activationRange, false);
        const quantized = Array.from(values, (value) => quantizeValue(value, params, options.activationRange));
        const data = options.activationType === 'uint8' ? Uint8Array.from(quantized) : Int8Array.from(quantized);
        const q = addInitializer(`${name}_quantized`, activationDataType, tensor.dims, data);
        const scale = addInitializer(`${name}_scale`, DataType.FLOAT, [], Float32Array.of(params.scale));
        const zeroPoint = addInitializer(
          `${name}_zero_point`,
          activationDataType,
          [],
          options.activationType === 'uint8' ? Uint8Array.of(params.zeroPoint) : Int8Array.of(params.zeroPoint),
        );
        const dq = names.take(`${name}_dequantized`);
        nodes.push(makeNode('DequantizeLinear', [q, scale, zeroPoint], [dq], { name: names.take(`${name}_DequantizeLinear`) }));
        copy.input[index] = dq;
        replacedInitializers.add(name);
      }
    }
    nodes.push(copy);
    for (const output of copy.output) nodes.push(...(pairs.get(outputNames.get(output) ?? output) ?? []));
  }

  // Float initializers that only fed replaced inputs are dropped.
  const stillRead = new Set(nodes.flatMap((node) => node.input));
  for (const output of graph.output) stillRead.add(output.name);
  const kept = graph.initializer.filter((tensor) => !replacedInitializers.has(tensor.name) || stillRead.has(tensor.name));
  const keptNames = new Set(kept.map((tensor) => tensor.name));

  const next = shallowCopy(GraphProtoSchema, graph);
  const absorbedTensors = new Set(plan.absorptions.map((absorption) => absorption.activation.input[0]!));
  next.node = nodes;
  next.initializer = [...kept, ...initializers];
  next.input = graph.input.filter((input) => keptNames.has(input.name) || !replacedInitializers.has(input.name));
  next.valueInfo = graph.valueInfo.filter((info) => !absorbedTensors.has(info.name));
  const sorted = new GraphView(next).topologicalOrder();
  if (sorted.some((node, index) => node !== nodes[index])) next.node = sorted;

  const result = shallowCopy(ModelProtoSchema, model);
  result.graph = next;
  return { model: result, activations, widenedChannels, clippedBiases };
}

/** Scale and zero point of every quantized activation, resolving shared sources in order. */
function activationParams(plan: QuantizationPlan, options: ResolvedQuantizeOptions): Map<string, QuantParams> {
  const params = new Map<string, QuantParams>();
  for (const [tensor, source] of plan.tensors) {
    if (source.kind === 'range') {
      params.set(tensor, computeQuantParams(source.range.min, source.range.max, options.activationRange, false));
      continue;
    }
    const shared = params.get(source.with);
    if (!shared) throw new KilnError('KILN_CORE_INTERNAL', `quantizer: tensor '${tensor}' shares parameters with '${source.with}', which has none`);
    params.set(tensor, shared);
  }
  return params;
}

