import type { NodeProto } from '../../onnx/gen/onnx_pb.js';
import type { NodePlan, OpQuantizer, PlanContext } from './types.js';

/**
 * A plan for an op that only moves or selects 8-bit values: the data input and every output
 * share one scale and zero point, which is what lets ONNX Runtime drop the DQ → op → Q around
 * it and run the op on the integers. Only planned when the data input is already quantized.
 */
function sharedPlan(node: NodeProto, context: PlanContext): NodePlan | undefined {
  const data = node.input[0];
  if (!data || !context.isQuantized(data)) return undefined;
  return { activations: [0], weights: [], constants: [], outputs: node.output.map((_, index) => index), outputParams: { kind: 'shared' } };
}

/** Reshape, Transpose, Squeeze, Unsqueeze, Gather (data input), Split, Resize: equal params in and out. */
export const dataMovementQuantizer: OpQuantizer = {
  opTypes: ['Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Gather', 'Split', 'Resize'],
  fusedOps: [],
  dataMovement: true,
  plan: sharedPlan,
};

/** MaxPool without its optional indices output: equal params in and out (8-bit MaxPool, opset ≥ 12). */
export const maxPoolQuantizer: OpQuantizer = {
  opTypes: ['MaxPool'],
  fusedOps: [],
  dataMovement: true,
  plan: (node, context) => (node.output.length > 1 && node.output[1] ? undefined : sharedPlan(node, context)),
};
