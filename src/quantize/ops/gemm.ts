import { attributeNumber } from './attributes.js';
import type { OpQuantizer } from './types.js';

/**
 * Gemm → QGemm. B is a weight quantized per output column: axis 1 of [K, N], or axis 0 when
 * transB = 1 ([N, K]). The bias C is int32 only when it is a constant vector and alpha = beta = 1
 * (its scale must equal scale(A) × scale(B)); any other C keeps the node in float, since QGemm
 * accepts no float bias.
 */
export const gemmQuantizer: OpQuantizer = {
  opTypes: ['Gemm'],
  fusedOps: ['QGemm'],
  plan(node, context) {
    const [a, b, c] = node.input;
    if (!a || !b || !context.hasRange(a) || !context.hasRange(node.output[0]!)) return undefined;
    const dims = context.floatInitializerDims(b);
    if (!dims || dims.length !== 2) return undefined;
    const transB = attributeNumber(node, 'transB', 0);
    const axis = context.options.perChannel ? (transB ? 0 : 1) : undefined;
    let bias: { input: number; activation: number; weight: number } | undefined;
    if (c) {
      const biasDims = context.floatInitializerDims(c);
      const unitScales = attributeNumber(node, 'alpha', 1) === 1 && attributeNumber(node, 'beta', 1) === 1;
      if (!biasDims || biasDims.length !== 1 || !unitScales) return undefined;
      bias = { input: 2, activation: 0, weight: 1 };
    }
    return {
      activations: [0],
      weights: [{ input: 1, axis }],
      constants: [],
      ...(bias ? { bias } : {}),
      outputs: [0],
      outputParams: { kind: 'calibrated' },
    };
  },
};
