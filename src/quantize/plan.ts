import type { NodeProto } from '../onnx/gen/onnx_pb.js';
export type { Absorption } from './absorb.js';
import { DataType } from '../onnx/dtype.js';
import type { GraphView } from '../onnx/graph.js';
import type { TensorRange } from './calibrate/types.js';
import { absorbableActivation, absorbableShape, type Absorption } from './absorb.js';
import { opQuantizerFor } from './ops/op-table.js';
import type { NodePlan, PlanContext } from './ops/types.js';
import type { ResolvedQuantizeOptions } from './options.js';

/** Everything the emitter needs: which nodes, which tensors, and where each range comes from. */
export interface QuantizationPlan {
  readonly nodes: ReadonlyMap<NodeProto, NodePlan>;
  readonly absorptions: readonly Absorption[];
  /**
   * Activation tensors that get a Q → DQ pair, in topological order, each with where its
   * parameters come from: a range, or the tensor whose parameters it shares.
   */
  readonly tensors: ReadonlyMap<string, TensorSource>;
  /** Nodes whose op has an entry but stayed float, with the reason. */
  readonly skipped: readonly { readonly node: NodeProto; readonly reason: string }[];
}

/** Where a quantized tensor's scale and zero point come from. */
export type TensorSource = { readonly kind: 'range'; readonly range: TensorRange } | { readonly kind: 'shared'; readonly with: string };

/** Names a node for messages and exclusion lists: its name, or its op type and first output. */
export function nodeLabel(node: NodeProto): string {
  return node.name || `${node.opType}(${node.output[0] ?? ''})`;
}

/**
 * Decides what to quantize: compute ops first (their plan needs ranges only), then Relu/Clip
 * absorption into planned producers, then data-movement ops in topological order, which join
 * only where their input is already quantized. Pure: reads the graph, returns the plan.
 */
export function planQuantization(
  view: GraphView,
  ranges: ReadonlyMap<string, TensorRange>,
  options: ResolvedQuantizeOptions,
): QuantizationPlan {
  const order = view.topologicalOrder();
  const nodes = new Map<NodeProto, NodePlan>();
  const quantized = new Set<string>();
  const skipped: { node: NodeProto; reason: string }[] = [];
  // A tensor only an absorbable activation reads is not calibrated (targets.ts): its producer
  // plans with the activation's range, which the absorption below then uses.
  const rangeProxy = new Map<string, string>();
  for (const node of view.nodes) {
    const shape = absorbableShape(view, node);
    if (shape) rangeProxy.set(shape.input, shape.output);
  }
  const context: PlanContext = {
    view,
    options,
    hasRange: (tensor) => !view.initializer(tensor) && (ranges.has(tensor) || ranges.has(rangeProxy.get(tensor) ?? '')),
    isQuantized: (tensor) => quantized.has(tensor),
    floatInitializerDims: (name) => {
      const tensor = view.initializer(name);
      return tensor && tensor.dataType === DataType.FLOAT ? tensor.dims.map(Number) : undefined;
    },
  };
  const wanted = (node: NodeProto) =>
    !options.excludeNodes.has(nodeLabel(node)) &&
    !options.excludeOpTypes.has(node.opType) &&
    (!options.opTypes || options.opTypes.has(node.opType));
  const mark = (node: NodeProto, plan: NodePlan) => {
    nodes.set(node, plan);
    for (const index of plan.activations) quantized.add(node.input[index]!);
    for (const index of plan.outputs) quantized.add(node.output[index]!);
  };

  let absorptions: Absorption[] = [];
  for (const dataMovement of [false, true]) {
    if (dataMovement) {
      // Decided before data-movement ops, so a MaxPool after an absorbed ReLU sees a quantized input.
      absorptions = view.nodes.flatMap((node) => absorbableActivation(view, node, nodes, ranges) ?? []);
      for (const absorption of absorptions) quantized.add(absorption.activation.output[0]!);
    }
    for (const node of order) {
      const entry = opQuantizerFor(node.opType, node.domain);
      if (!entry || Boolean(entry.dataMovement) !== dataMovement || !wanted(node)) continue;
      const plan = entry.plan(node, context);
      if (plan) mark(node, plan);
      else if (!dataMovement) skipped.push({ node, reason: 'an input or output has no calibrated range, or a weight is not constant' });
    }
  }
  return { nodes, absorptions, tensors: tensorSources(order, nodes, absorptions, ranges), skipped };
}

/**
 * Parameters of each quantized tensor, in topological order so a shared source is always
 * resolved first. An absorbed activation's output takes the producer's place with the
 * activation's own range (clipped to a Clip's upper bound).
 */
function tensorSources(
  order: readonly NodeProto[],
  nodes: ReadonlyMap<NodeProto, NodePlan>,
  absorptions: readonly Absorption[],
  ranges: ReadonlyMap<string, TensorRange>,
): Map<string, TensorSource> {
  const renamed = new Map<string, Absorption>();
  for (const absorption of absorptions) renamed.set(absorption.producer.output[absorption.producerOutput]!, absorption);
  const sources = new Map<string, TensorSource>();
  const fromRange = (tensor: string) => {
    if (sources.has(tensor)) return;
    const range = ranges.get(tensor);
    if (range) sources.set(tensor, { kind: 'range', range });
  };
  for (const node of order) {
    const plan = nodes.get(node);
    if (!plan) continue;
    for (const index of plan.activations) fromRange(node.input[index]!);
    for (const index of plan.outputs) {
      const output = node.output[index]!;
      const absorption = renamed.get(output);
      if (absorption) {
        const target = absorption.activation.output[0]!;
        const range = ranges.get(target)!;
        sources.set(target, { kind: 'range', range: { min: range.min, max: Math.min(range.max, absorption.upperBound) } });
        continue;
      }
      if (plan.outputParams.kind === 'shared') sources.set(output, { kind: 'shared', with: node.input[0]! });
      else if (plan.outputParams.kind === 'fixed') sources.set(output, { kind: 'range', range: plan.outputParams.range });
      else fromRange(output);
    }
  }
  return sources;
}
