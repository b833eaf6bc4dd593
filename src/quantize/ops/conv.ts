import type { OpQuantizer } from './types.js';

/**
 * Conv → QLinearConv: uint8/int8 activation in and out, int8 symmetric weights per output
 * channel (axis 0 of [M, C/group, kH, kW]), int32 bias. A non-constant weight or bias stays float.
 */
export const convQuantizer: OpQuantizer = {
  opTypes: ['Conv'],
  fusedOps: ['QLinearConv'],
  plan(node, context) {
    const [input, weight, bias] = node.input;
    if (!input || !weight || !context.hasRange(input) || !context.hasRange(node.output[0]!)) return undefined;
    const dims = context.floatInitializerDims(weight);
    if (!dims || dims.length < 3) return undefined;
    const hasBias = Boolean(bias);
    if (hasBias && !context.floatInitializerDims(bias!)) return undefined;
    return {
      activations: [0],
      weights: [{ input: 1, axis: context.options.perChannel ? 0 : undefined }],
      constants: [],
      ...(hasBias ? { bias: { input: 2, activation: 0, weight: 1 } } : {}),
      outputs: [0],
      outputParams: { kind: 'calibrated' },
    };
  },
};
