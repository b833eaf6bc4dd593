import { activationsOnly, type OpQuantizer } from './types.js';

/**
 * Concat → QLinearConcat, which requantizes inputs of different scales to the output's own
 * range (an input with a much narrower range than the output loses precision).
 */
export const concatQuantizer: OpQuantizer = {
  opTypes: ['Concat'],
  fusedOps: ['QLinearConcat'],
  plan: (node, context) => activationsOnly(node, context),
};
