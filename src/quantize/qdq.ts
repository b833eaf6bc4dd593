import { KilnError } from '../core/errors.js';
import { makeNode } from '../onnx/build.js';
import { DataType } from '../onnx/dtype.js';
import { shallowCopy } from '../onnx/edit.js';
import { GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, type GraphProto, type ModelProto, type NodeProto } from '../onnx/gen/onnx_pb.js';
import { GraphView } from '../onnx/graph.js';
import { decodeTensor } from '../onnx/tensor.js';
import { activationZeroPoint, ConstantSink, emitBias, emitConstant, emitWeight, weightFitsBias, type EmittedWeight } from './emit-constants.js';
import { guardFloatWeightedInput, type QuantizedTensor } from './float-weighted-inputs.js';
import { computeQuantParams, type QuantParams } from './math.js';
import type { NodePlan } from './ops/types.js';
import type { ResolvedQuantizeOptions } from './options.js';
import { nodeLabel, type QuantizationPlan } from './plan.js';

/** What emitting changed, for the report and logs. */
export interface EmitResult {
  readonly model: ModelProto;
  /** Quantized activation tensors with their parameters. */
  readonly activations: ReadonlyMap<string, QuantParams>;
  /** Weight channels whose scale was widened so the int32 bias fits. */
  readonly widenedChannels: number;
  /** Bias values still clipped to int32 (expected 0). */
  readonly clippedBiases: number;
  /** SQNR (dB) of each quantized weight against its float values, by initializer name. */
  readonly weightSqnr: ReadonlyMap<string, number>;
}

/** The Q → DQ pairs of the quantized activations and how names change around them. */
interface ActivationPairs {
  readonly pairs: ReadonlyMap<string, readonly NodeProto[]>;
  /** Tensor → the DQ output its consumers read instead. */
  readonly dequantized: ReadonlyMap<string, string>;
  /** Graph output → the new name its producer writes (the DQ writes the output's own name). */
  readonly preQuantized: ReadonlyMap<string, string>;
}

/**
 * Rewrites a prepared model into QDQ form from a plan (spec §4): a shared Q → DQ pair after
 * each quantized activation, int8 weights and int32 biases as initializers read through a
 * DequantizeLinear, absorbed Relu/Clip nodes removed. Graph inputs and outputs stay float.
 * Deterministic: the same model, plan and options give the same bytes. Added tensors are named
 * after the one they stand for (`x_q`, `x_dq`, `x_scale`, `x_zp`); Q/DQ nodes are left unnamed,
 * which keeps small models small (names are a large share of their bytes).
 */
export function emitQdq(model: ModelProto, plan: QuantizationPlan, options: ResolvedQuantizeOptions): EmitResult {
  const graph = model.graph!;
  const view = new GraphView(graph);
  const sink = new ConstantSink(view);
  const activations = activationParams(plan, options);
  const { pairs, dequantized, preQuantized } = activationPairs(graph, activations, sink, options);
  const removed = new Set(plan.absorptions.map((absorption) => absorption.activation));
  const outputRenames = new Map<NodeProto, Map<number, string>>();
  for (const { producer, producerOutput, activation } of plan.absorptions) {
    const renames = outputRenames.get(producer) ?? new Map<number, string>();
    renames.set(producerOutput, activation.output[0]!);
    outputRenames.set(producer, renames);
  }
  const quantizedTensor = (name: string | undefined): QuantizedTensor | undefined => {
    const pair = name ? pairs.get(name) : undefined;
    return pair && { quantized: pair[0]!.output[0]!, float: preQuantized.get(name!) ?? name!, params: activations.get(name!)! };
  };
  const floatNames = new Map([...preQuantized].map(([tensor, floatName]) => [floatName, tensor]));
  const rewriter = new ConstantRewriter(view, sink, activations, options);
  // Constant inputs of absorbed nodes (a Clip's bounds) go when nothing else reads them.
  for (const node of removed) for (const input of node.input.slice(1)) if (input && view.initializer(input)) rewriter.replaced.add(input);

  const nodes: NodeProto[] = graph.input.flatMap((input) => pairs.get(input.name) ?? []);
  for (const node of view.topologicalOrder()) {
    if (removed.has(node)) continue;
    const copy = shallowCopy(NodeProtoSchema, node);
    copy.input = node.input.map((name) => dequantized.get(name) ?? name);
    const renames = outputRenames.get(node);
    copy.output = node.output.map((name, index) => renames?.get(index) ?? name).map((name) => preQuantized.get(name) ?? name);
    const nodePlan = plan.nodes.get(node);
    if (nodePlan) {
      // The fusion check finds planned nodes by name.
      if (!copy.name) copy.name = nodeLabel(node);
      nodes.push(...rewriter.rewrite(node, nodePlan, copy));
    } else {
      const guard = guardFloatWeightedInput(view, node, quantizedTensor(node.input[0]), sink, options);
      if (guard) {
        copy.input[0] = guard.input;
        nodes.push(...guard.nodes);
      }
    }
    nodes.push(copy);
    for (const output of copy.output) nodes.push(...(pairs.get(floatNames.get(output) ?? output) ?? []));
  }

  const next = shallowCopy(GraphProtoSchema, graph);
  next.node = nodes;
  replaceInitializers(graph, next, rewriter.replaced, sink);
  const absorbedTensors = new Set(plan.absorptions.map((absorption) => absorption.activation.input[0]!));
  next.valueInfo = graph.valueInfo.filter((info) => !absorbedTensors.has(info.name));
  const sorted = new GraphView(next).topologicalOrder();
  if (sorted.some((node, index) => node !== nodes[index])) next.node = sorted;
  const result = shallowCopy(ModelProtoSchema, model);
  result.graph = next;
  return {
    model: result,
    activations,
    widenedChannels: rewriter.widenedChannels,
    clippedBiases: rewriter.clippedBiases,
    weightSqnr: rewriter.weightSqnr,
  };
}

/**
 * One Q → DQ pair per quantized activation, shared by every consumer. A graph output keeps its
 * name on the DQ (float, as callers expect) and its producer writes a new name: onnxruntime
 * fuses a node only when its output feeds nothing but the Q.
 */
function activationPairs(
  graph: GraphProto,
  activations: ReadonlyMap<string, QuantParams>,
  sink: ConstantSink,
  options: ResolvedQuantizeOptions,
): ActivationPairs {
  const graphOutputs = new Set(graph.output.map((output) => output.name));
  const pairs = new Map<string, NodeProto[]>();
  const dequantized = new Map<string, string>();
  const preQuantized = new Map<string, string>();
  for (const [tensor, params] of activations) {
    const scale = sink.add(`${tensor}_scale`, DataType.FLOAT, [], Float32Array.of(params.scale));
    const { type, zeroPoint: zeroPointData } = activationZeroPoint(options, params.zeroPoint);
    const zeroPoint = sink.add(`${tensor}_zp`, type, [], zeroPointData);
    const quantized = sink.name(`${tensor}_q`);
    const isOutput = graphOutputs.has(tensor);
    const floatName = isOutput ? sink.name(`${tensor}_float`) : tensor;
    const output = isOutput ? tensor : sink.name(`${tensor}_dq`);
    if (isOutput) preQuantized.set(tensor, floatName);
    else dequantized.set(tensor, output);
    pairs.set(tensor, [
      makeNode('QuantizeLinear', [floatName, scale, zeroPoint], [quantized]),
      makeNode('DequantizeLinear', [quantized, scale, zeroPoint], [output]),
    ]);
  }
  return { pairs, dequantized, preQuantized };
}

/** Replaces a planned node's constant inputs (weights, bias, constant operands) with DQ outputs. */
class ConstantRewriter {
  readonly replaced = new Set<string>();
  widenedChannels = 0;
  clippedBiases = 0;
  readonly weightSqnr = new Map<string, number>();
  readonly #weights = new Map<string, EmittedWeight>();

  constructor(
    private readonly view: GraphView,
    private readonly sink: ConstantSink,
    private readonly activations: ReadonlyMap<string, QuantParams>,
    private readonly options: ResolvedQuantizeOptions,
  ) {}

  /** Edits `copy`'s inputs and returns the DequantizeLinear nodes that must precede it. */
  rewrite(node: NodeProto, plan: NodePlan, copy: NodeProto): NodeProto[] {
    const added: NodeProto[] = [];
    for (const weightPlan of plan.weights) {
      const name = node.input[weightPlan.input]!;
      const bias = plan.bias?.weight === weightPlan.input ? plan.bias : undefined;
      const biasGuard = bias && {
        bias: this.#floatValues(node.input[bias.input]!),
        inputScale: this.activations.get(node.input[bias.activation]!)!.scale,
      };
      const key = `${name}|${weightPlan.axis}`;
      const cached = this.#weights.get(key);
      let weight: EmittedWeight;
      if (cached && (!biasGuard || weightFitsBias(cached.weight, biasGuard))) {
        weight = cached;
      } else {
        const emitted = emitWeight(this.sink, name, decodeTensor(this.view.initializer(name)!), weightPlan.axis, this.options, biasGuard);
        this.widenedChannels += emitted.widened;
        this.weightSqnr.set(name, Math.min(emitted.sqnrDb, this.weightSqnr.get(name) ?? Number.POSITIVE_INFINITY));
        // A widened weight belongs to this node alone; a plain one is shared by every user.
        if (!cached && emitted.widened === 0) this.#weights.set(key, emitted);
        added.push(emitted.node);
        weight = emitted;
      }
      copy.input[weightPlan.input] = weight.output;
      this.replaced.add(name);
      if (bias && biasGuard) {
        const biasName = node.input[bias.input]!;
        // A bias shared by several nodes is duplicated: its scale depends on each node's input.
        const emitted = emitBias(this.sink, biasName, biasGuard.bias, biasGuard.inputScale, weight.weight);
        this.clippedBiases += emitted.clipped;
        added.push(emitted.node);
        copy.input[bias.input] = emitted.output;
        this.replaced.add(biasName);
      }
    }
    for (const index of plan.constants) {
      const name = node.input[index]!;
      const emitted = emitConstant(this.sink, name, decodeTensor(this.view.initializer(name)!), this.options);
      added.push(emitted.node);
      copy.input[index] = emitted.output;
      this.replaced.add(name);
    }
    return added;
  }

  #floatValues(name: string): Float32Array {
    return decodeTensor(this.view.initializer(name)!).data as Float32Array;
  }
}

/** Drops float initializers that only fed replaced inputs, and adds the new ones. */
function replaceInitializers(graph: GraphProto, next: GraphProto, replaced: ReadonlySet<string>, sink: ConstantSink): void {
  const stillRead = new Set(next.node.flatMap((node) => node.input));
  for (const output of graph.output) stillRead.add(output.name);
  const kept = graph.initializer.filter((tensor) => !replaced.has(tensor.name) || stillRead.has(tensor.name));
  const keptNames = new Set(kept.map((tensor) => tensor.name));
  next.initializer = [...kept, ...sink.initializers];
  next.input = graph.input.filter((input) => keptNames.has(input.name) || !replaced.has(input.name));
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
