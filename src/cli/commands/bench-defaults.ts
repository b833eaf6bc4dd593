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

/** Defaults of `kiln bench --url` (a running server): concurrency levels, seconds per level. */
export const BENCH_URL_DEFAULTS = Object.freeze({
  concurrency: [1, 8, 32, 64],
  durationS: 10,
  warmupS: 2,
  timeoutS: 10,
});

/** Flags that only `kiln bench --url` takes (commander's attribute names). */
export const BENCH_URL_FLAGS = ['protocol', 'model', 'modelVersion', 'input', 'contentType', 'header', 'binary', 'concurrency', 'duration', 'timeout'] as const;

/** Flags that only apply to a model file (onnxruntime in this process). */
export const BENCH_MODEL_FLAGS = ['batch', 'threads', 'iterations', 'optimization'] as const;
