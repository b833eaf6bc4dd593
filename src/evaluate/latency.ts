import type { Engine } from '../runtime/engine.js';
import type { HostTensor } from '../runtime/tensors.js';

/** How one latency measurement runs. */
export interface LatencyOptions {
  /** Untimed runs first. @defaultValue 5 */
  readonly warmup?: number;
  /** Timed runs. @defaultValue 50 */
  readonly iterations?: number;
  /** Stop early after this many milliseconds of timed runs (at least 3 runs). @defaultValue no limit */
  readonly maxMillis?: number;
  /** Called after each timed run with the runs done so far. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** Latency of one (engine, feeds) pair. Times are milliseconds per run. */
export interface LatencyResult {
  readonly runs: number;
  readonly batch: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** Samples (batch rows) per second at the mean latency. */
  readonly samplesPerSecond: number;
}

export const LATENCY_DEFAULTS = Object.freeze({ warmup: 5, iterations: 50 });

/** The q-quantile (0..1) of sorted values, with linear interpolation (numpy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const position = (sorted.length - 1) * q;
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  const weight = position - lower;
  return sorted[lower]! * (1 - weight) + sorted[upper]! * weight;
}

/** Summarizes run times (ms) for a batch size. */
export function summarizeLatency(times: readonly number[], batch: number): LatencyResult {
  const sorted = [...times].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, t) => sum + t, 0) / sorted.length;
  return {
    runs: sorted.length,
    batch,
    meanMs: mean,
    p50Ms: quantile(sorted, 0.5),
    p90Ms: quantile(sorted, 0.9),
    p99Ms: quantile(sorted, 0.99),
    minMs: sorted[0] ?? Number.NaN,
    maxMs: sorted[sorted.length - 1] ?? Number.NaN,
    samplesPerSecond: (batch * 1000) / mean,
  };
}

/** Times `engine.run(feeds)` after a warm-up; one run at a time, as a single client would. */
export async function measureLatency(
  engine: Engine,
  feeds: Readonly<Record<string, HostTensor>>,
  options: LatencyOptions = {},
): Promise<LatencyResult> {
  const iterations = options.iterations ?? LATENCY_DEFAULTS.iterations;
  await engine.warmUp(feeds, options.warmup ?? LATENCY_DEFAULTS.warmup);
  const batch = Object.values(feeds)[0]?.dims[0] ?? 1;
  const times: number[] = [];
  const started = performance.now();
  for (let index = 0; index < iterations; index++) {
    const begin = performance.now();
    await engine.run(feeds);
    times.push(performance.now() - begin);
    options.onProgress?.(index + 1, iterations);
    if (options.maxMillis !== undefined && times.length >= 3 && performance.now() - started > options.maxMillis) break;
  }
  return summarizeLatency(times, batch);
}
