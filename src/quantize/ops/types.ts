import type { NodeProto } from '../../onnx/gen/onnx_pb.js';
import type { GraphView } from '../../onnx/graph.js';
import type { TensorRange } from '../calibrate/types.js';
import type { ResolvedQuantizeOptions } from '../options.js';

/** A constant input quantized as a weight: int8 symmetric, per channel along `axis` or per tensor. */
export interface WeightPlan {
  readonly input: number;
  /** Channel axis; undefined for one scale for the whole tensor. */
  readonly axis: number | undefined;
}

/** How the quantized outputs of a node get their scale and zero point. */
export type OutputParams =
  /** From the output's own calibrated range. */
  | { readonly kind: 'calibrated' }
  /** The same as input 0's (data-movement ops: ORT drops the Q/DQ pair only when they are equal). */
  | { readonly kind: 'shared' }
  /** A range known from the op's definition (Softmax: [0, 1]). */
  | { readonly kind: 'fixed'; readonly range: TensorRange };

/** What an op quantizer wants done to one node. Indices refer to the node's inputs/outputs. */
export interface NodePlan {
  /** Inputs read as quantized activations: their tensor gets a Q → DQ pair. */
  readonly activations: readonly number[];
  /** Constant inputs stored as int8 weights with a DequantizeLinear. */
  readonly weights: readonly WeightPlan[];
  /** Constant inputs quantized with their own asymmetric range (an Add's constant operand). */
  readonly constants: readonly number[];
  /** A constant bias stored as int32 with scale = scale(activation) × scale(weight). */
  readonly bias?: { readonly input: number; readonly activation: number; readonly weight: number };
  /** Outputs that get a Q → DQ pair. */
  readonly outputs: readonly number[];
  readonly outputParams: OutputParams;
}

/** What an op quantizer may ask about the graph while planning. */
export interface PlanContext {
  readonly view: GraphView;
  readonly options: ResolvedQuantizeOptions;
  /** True when the tensor is a float activation with a calibrated range. */
  hasRange(tensor: string): boolean;
  /** True when the tensor will carry a Q → DQ pair (planned so far). */
  isQuantized(tensor: string): boolean;
  /** Dims of a float32 initializer, or undefined when the name is not one. */
  floatInitializerDims(name: string): readonly number[] | undefined;
}

/**
 * One entry of the op table: which ops it handles and how. `plan` returns undefined when this
 * node cannot be quantized (its weight is not constant, an input has no range…): it stays float.
 */
export interface OpQuantizer {
  readonly opTypes: readonly string[];
  /** Integer kernels ONNX Runtime's CPU provider turns a quantized node of these ops into. */
  readonly fusedOps: readonly string[];
  /**
   * Data-movement ops are planned after the compute ops, and only where their input is already
   * quantized: alone they gain nothing, inside an integer island they keep it unbroken.
   */
  readonly dataMovement?: boolean;
  plan(node: NodeProto, context: PlanContext): NodePlan | undefined;
}

/** Input indices of a node that name a tensor (empty strings mark omitted optional inputs). */
export function presentInputs(node: NodeProto): number[] {
  return node.input.flatMap((name, index) => (name ? [index] : []));
}

/** A plan for ops whose every present input is an activation with its own output range. */
export function activationsOnly(node: NodeProto, context: PlanContext, outputParams: OutputParams = { kind: 'calibrated' }): NodePlan | undefined {
  const inputs = presentInputs(node);
  if (inputs.length === 0 || !inputs.every((index) => context.hasRange(node.input[index]!))) return undefined;
  if (outputParams.kind === 'calibrated' && !context.hasRange(node.output[0]!)) return undefined;
  return { activations: inputs, weights: [], constants: [], outputs: [0], outputParams };
}
