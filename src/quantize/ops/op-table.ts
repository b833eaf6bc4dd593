import { averagePoolQuantizer } from './average-pool.js';
import { binaryQuantizer } from './binary.js';
import { concatQuantizer } from './concat.js';
import { convQuantizer } from './conv.js';
import { dataMovementQuantizer, maxPoolQuantizer } from './data-movement.js';
import { gemmQuantizer } from './gemm.js';
import { matMulQuantizer } from './matmul.js';
import { softmaxQuantizer } from './softmax.js';
import type { OpQuantizer } from './types.js';
import { unaryQuantizer } from './unary.js';

/**
 * The op table. An op without an entry stays float (no DQ → op → Q island is made for it).
 * Relu and Clip are not here: they are absorbed into their producer's output range instead.
 */
export const OP_QUANTIZERS: readonly OpQuantizer[] = Object.freeze([
  convQuantizer,
  matMulQuantizer,
  gemmQuantizer,
  binaryQuantizer,
  concatQuantizer,
  averagePoolQuantizer,
  unaryQuantizer,
  softmaxQuantizer,
  maxPoolQuantizer,
  dataMovementQuantizer,
]);

const BY_OP = new Map<string, OpQuantizer>(OP_QUANTIZERS.flatMap((entry) => entry.opTypes.map((op) => [op, entry] as const)));

/** The quantizer for an ONNX-domain op type, or undefined (the op stays float). */
export function opQuantizerFor(opType: string, domain = ''): OpQuantizer | undefined {
  return domain === '' || domain === 'ai.onnx' ? BY_OP.get(opType) : undefined;
}

/** Every op type with an entry. */
export function quantizableOpTypes(): string[] {
  return [...BY_OP.keys()];
}
