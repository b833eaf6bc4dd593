import { activationsOnly, type OpQuantizer } from './types.js';

/**
 * Softmax → QLinearSoftmax. Its output lies in [0, 1] by definition, so the range is fixed
 * (uint8 scale 1/255, zero point 0, as current ONNX Runtime does) rather than calibrated.
 */
export const softmaxQuantizer: OpQuantizer = {
  opTypes: ['Softmax'],
  fusedOps: ['QLinearSoftmax'],
  plan: (node, context) => activationsOnly(node, context, { kind: 'fixed', range: { min: 0, max: 1 } }),
};
