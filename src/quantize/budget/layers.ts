/**
 * The layers an accuracy budget trades: every weighted node (Conv, ConvTranspose, MatMul,
 * Gemm) the quantizer turned to INT8, with its multiply-accumulate count per sample. MACs are
 * what the integer kernels speed up, so the budget maximizes the share of them left in INT8.
 */
import { create } from '@bufbuild/protobuf';
import { KilnError } from '../../core/errors.js';
import { editModel } from '../../onnx/edit.js';
import { ValueInfoProtoSchema, type ModelProto, type NodeProto } from '../../onnx/gen/onnx_pb.js';
import { GraphView } from '../../onnx/graph.js';
import { encodeModel } from '../../onnx/model-io.js';
import { Engine } from '../../runtime/engine.js';
import type { Feeds } from '../data/types.js';
import { nodeLabel } from '../plan.js';

/** Ops whose cost is a product of weights and activations: what INT8 kernels accelerate. */
export const WEIGHTED_OPS: ReadonlySet<string> = new Set(['Conv', 'ConvTranspose', 'MatMul', 'Gemm']);

/** One weighted layer: its node label (as `excludeNodes` takes it), op type and MACs per sample. */
export interface WeightedLayer {
  readonly name: string;
  readonly opType: string;
  /** Multiply-accumulates for one run on the measuring sample (batch as fed). */
  readonly macs: number;
}

const product = (dims: readonly number[]) => dims.reduce((total, dim) => total * dim, 1);

/**
 * MACs of one node from the real shapes of its data input and output. Conv: each output
 * element sums `C/group × kernel` products; ConvTranspose: each input element scatters into
 * `M/group × kernel` outputs; MatMul and Gemm: each output element sums K products.
 */
function nodeMacs(node: NodeProto, view: GraphView, input: readonly number[], output: readonly number[]): number {
  const weight = view.initializer(node.input[1] ?? '')?.dims.map(Number);
  switch (node.opType) {
    case 'Conv':
      return weight ? product(output) * product(weight.slice(1)) : 0;
    case 'ConvTranspose':
      return weight ? product(input) * product(weight.slice(1)) : 0;
    case 'Gemm': {
      const transA = node.attribute.find((attribute) => attribute.name === 'transA')?.i === 1n;
      return product(output) * (input[transA ? 0 : 1] ?? 0);
    }
    default:
      return product(output) * (input.at(-1) ?? 0);
  }
}

/**
 * Measures the MACs of the named nodes of `model` (a prepared float model) by running it once
 * on `sample` with every such node's first input and output exposed as graph outputs
 * (optimizations off, so the tensors exist as named). ONNX Runtime gives the real shapes for
 * every op; kiln's forward shape inference has rules for a subset of ops and leaves dynamic
 * axes open.
 */
export async function measureLayers(model: ModelProto, names: readonly string[], sample: Feeds, intraOpThreads = 0): Promise<WeightedLayer[]> {
  const view = new GraphView(model.graph!);
  const byLabel = new Map(view.nodes.map((node) => [nodeLabel(node), node]));
  const nodes = names.map((name) => {
    const node = byLabel.get(name);
    if (!node) throw new KilnError('KILN_CORE_INTERNAL', `accuracy budget: no node '${name}' in the prepared model`);
    return node;
  });
  const existing = new Set(model.graph!.output.map((output) => output.name));
  const wanted = [...new Set(nodes.flatMap((node) => [node.input[0]!, node.output[0]!]))];
  const extra = wanted.filter((name) => !existing.has(name) && !view.initializer(name)).map((name) => create(ValueInfoProtoSchema, { name }));
  const augmented = editModel(model, { outputs: [...model.graph!.output, ...extra] });
  const engine = await Engine.load(encodeModel(augmented), { graphOptimizationLevel: 'disabled', intraOpThreads, label: 'shape probe' });
  let outputs;
  try {
    outputs = await engine.run(sample);
  } finally {
    await engine.release();
  }
  const dimsOf = (name: string) => outputs[name]?.dims ?? view.initializer(name)?.dims.map(Number) ?? sample[name]?.dims ?? [];
  return nodes.map((node) => ({
    name: nodeLabel(node),
    opType: node.opType,
    macs: nodeMacs(node, view, dimsOf(node.input[0]!), dimsOf(node.output[0]!)),
  }));
}
