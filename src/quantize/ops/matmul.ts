import type { OpQuantizer } from './types.js';

/**
 * MatMul → QLinearMatMul. A constant 2-D B is a weight with one scale per output column
 * (axis 1 of [K, N]); a constant B of higher rank gets one scale; two activations are both
 * quantized per tensor (attention's Q·Kᵀ and A·V).
 */
export const matMulQuantizer: OpQuantizer = {
  opTypes: ['MatMul'],
  fusedOps: ['QLinearMatMul', 'MatMulIntegerToFloat'],
  plan(node, context) {
    const [a, b] = node.input;
    if (!a || !b || !context.hasRange(a) || !context.hasRange(node.output[0]!)) return undefined;
    const dims = context.floatInitializerDims(b);
    if (dims) {
      const axis = context.options.perChannel && dims.length === 2 ? 1 : undefined;
      return { activations: [0], weights: [{ input: 1, axis }], constants: [], outputs: [0], outputParams: { kind: 'calibrated' } };
    }
    if (!context.hasRange(b)) return undefined;
    return { activations: [0, 1], weights: [], constants: [], outputs: [0], outputParams: { kind: 'calibrated' } };
  },
};
