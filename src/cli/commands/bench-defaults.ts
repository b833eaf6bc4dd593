import { LATENCY_DEFAULTS } from '../../evaluate/latency.js';
import type { GraphOptimizationLevel } from '../../runtime/engine.js';

/**
 * Defaults of `kiln bench`'s flags. Kept apart from the command so that `kiln --help` shows them
 * without loading onnxruntime.
 */
export const BENCH_DEFAULTS = Object.freeze({
  batches: [1],
  threads: [0],
  iterations: LATENCY_DEFAULTS.iterations,
  warmup: LATENCY_DEFAULTS.warmup,
  seed: 1,
  optimization: 'all' as GraphOptimizationLevel,
});
