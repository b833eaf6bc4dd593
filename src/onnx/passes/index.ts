/**
 * Pure graph passes that prepare a float model for quantization (spec §8): each takes a
 * ModelProto and returns a new one (the input is never mutated) with a count of changes.
 * {@link PREPARE_PASSES} is the order the quantizer runs them in.
 */
import type { ModelProto } from '../gen/onnx_pb.js';
import { constantsToInitializers } from './constants-to-initializers.js';
import { flattenToReshape } from './flatten-to-reshape.js';
import { foldBatchNorm } from './fold-batchnorm.js';
import { foldConstants } from './fold-constants.js';
import { removeIdentity } from './remove-identity.js';
import type { Pass } from './types.js';
import { upgradeOpset } from './upgrade-opset.js';

export { constantsToInitializers } from './constants-to-initializers.js';
export { flattenShape, flattenToReshape } from './flatten-to-reshape.js';
export { foldBatchNorm } from './fold-batchnorm.js';
export {
  FOLDED_PREPROCESS_KEY,
  foldImagePreprocess,
  foldedGainOffset,
  foldedPreprocessOf,
  unfoldImagePreprocess,
  type FoldImagePreprocessOptions,
} from './fold-image-preprocess.js';
export { EQUALIZE_DEFAULTS, equalizeCrossLayer, type EqualizeOptions } from './equalize-cross-layer.js';
export { MAX_GROWN_ELEMENTS, foldConstants } from './fold-constants.js';
export { inferShapes, ShapeInfo, type StaticDim, type TensorFacts } from './infer-shapes.js';
export { removeIdentity } from './remove-identity.js';
export { DEFAULT_TARGET_OPSET, upgradeOpset } from './upgrade-opset.js';
export type { Pass, PassResult } from './types.js';

/**
 * The passes run before quantization, in order: weights out of Constant nodes, opset 13 (for
 * per-channel Q/DQ), Identity/Dropout gone, BatchNormalization folded, Flatten as Reshape,
 * constant subgraphs evaluated.
 */
export const PREPARE_PASSES: readonly Pass[] = Object.freeze([
  { name: 'constants-to-initializers', run: constantsToInitializers },
  { name: 'upgrade-opset', run: (model: ModelProto) => upgradeOpset(model) },
  { name: 'remove-identity', run: removeIdentity },
  { name: 'fold-batchnorm', run: foldBatchNorm },
  { name: 'flatten-to-reshape', run: flattenToReshape },
  { name: 'fold-constants', run: foldConstants },
]);

/** One pass's part in a {@link runPasses} run. */
export interface AppliedPass {
  readonly name: string;
  readonly changes: number;
  readonly notes: readonly string[];
}

/**
 * Runs passes in order, each on the previous one's output.
 * @example const { model: prepared, applied } = runPasses(model, PREPARE_PASSES);
 */
export function runPasses(model: ModelProto, passes: readonly Pass[]): { model: ModelProto; applied: AppliedPass[] } {
  let current = model;
  const applied: AppliedPass[] = [];
  for (const pass of passes) {
    const result = pass.run(current);
    current = result.model;
    applied.push({ name: pass.name, changes: result.changes, notes: result.notes ?? [] });
  }
  return { model: current, applied };
}
