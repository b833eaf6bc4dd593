import type { NodePlan, OpQuantizer } from './types.js';

/**
 * Add and Mul → QLinearAdd / QLinearMul. Each operand keeps its own scale (residual branches
 * differ); a constant operand is quantized from its own values like an activation.
 */
export const binaryQuantizer: OpQuantizer = {
  opTypes: ['Add', 'Mul'],
  fusedOps: ['QLinearAdd', 'QLinearMul'],
  plan(node, context) {
    if (node.input.length !== 2 || !context.hasRange(node.output[0]!)) return undefined;
    const activations: number[] = [];
    const constants: number[] = [];
    for (const [index, name] of node.input.entries()) {
      if (context.hasRange(name)) activations.push(index);
      else if (context.floatInitializerDims(name)) constants.push(index);
      else return undefined;
    }
    if (activations.length === 0) return undefined;
    const plan: NodePlan = { activations, weights: [], constants, outputs: [0], outputParams: { kind: 'calibrated' } };
    return plan;
  },
};
