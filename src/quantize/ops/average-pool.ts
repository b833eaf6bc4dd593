import { activationsOnly, type OpQuantizer } from './types.js';

/** AveragePool / GlobalAveragePool → QLinear(Global)AveragePool; the output's narrower range is its own. */
export const averagePoolQuantizer: OpQuantizer = {
  opTypes: ['AveragePool', 'GlobalAveragePool'],
  fusedOps: ['QLinearAveragePool', 'QLinearGlobalAveragePool'],
  plan: (node, context) => activationsOnly(node, context),
};
