import type { Engine } from '../runtime/engine.js';
import type { HostTensor } from '../runtime/tensors.js';
import { summarizeLatency, type LatencyResult } from './latency.js';

/** How {@link compareLatency} runs. */
export interface CompareLatencyOptions {
  /** Untimed runs of each engine first. @defaultValue 5 */
  readonly warmup?: number;
  /** Timed runs of each engine. @defaultValue 50 */
  readonly iterations?: number;
  /**
   * The timed runs are split into this many rounds, and each round runs every engine in turn,
   * so a slow phase of a noisy machine hits all of them alike. @defaultValue 10
   */
  readonly rounds?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Latency of several engines on the same feeds, measured interleaved in one process: the
 * ratios between them hold even when the machine's absolute speed drifts during the run.
 * @returns one result per engine, in the order given
 */
export async function compareLatency(
  engines: readonly Engine[],
  feeds: readonly Readonly<Record<string, HostTensor>>[],
  options: CompareLatencyOptions = {},
): Promise<LatencyResult[]> {
  const iterations = options.iterations ?? 50;
  const rounds = Math.max(1, Math.min(options.rounds ?? 10, iterations));
  for (const [index, engine] of engines.entries()) await engine.warmUp(feeds[index]!, options.warmup ?? 5);
  const times = engines.map((): number[] => []);
  const total = iterations * engines.length;
  let done = 0;
  for (let round = 0; round < rounds; round++) {
    const runs = Math.floor(iterations / rounds) + (round < iterations % rounds ? 1 : 0);
    for (const [index, engine] of engines.entries()) {
      for (let run = 0; run < runs; run++) {
        const begin = performance.now();
        await engine.run(feeds[index]!);
        times[index]!.push(performance.now() - begin);
        options.onProgress?.(++done, total);
      }
    }
  }
  return times.map((list, index) => summarizeLatency(list, Object.values(feeds[index]!)[0]?.dims[0] ?? 1));
}
