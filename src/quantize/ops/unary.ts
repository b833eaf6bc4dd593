import { activationsOnly, type OpQuantizer } from './types.js';

/** Sigmoid and LeakyRelu → QLinearSigmoid / QLinearLeakyRelu (table lookups on 8-bit data). */
export const unaryQuantizer: OpQuantizer = {
  opTypes: ['Sigmoid', 'LeakyRelu'],
  fusedOps: ['QLinearSigmoid', 'QLinearLeakyRelu'],
  plan: (node, context) => activationsOnly(node, context),
};
