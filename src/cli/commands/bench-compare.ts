import { cpus } from 'node:os';
import { SingleBar, Presets } from 'cli-progress';
import { checkReadableFile } from '../../core/fs.js';
import { compareLatency } from '../../evaluate/compare-latency.js';
import type { LatencyResult } from '../../evaluate/latency.js';
import { Engine, runtimeVersion } from '../../runtime/engine.js';
import { formatMs, table } from '../format.js';
import type { CliIO } from '../io.js';
import { benchFeeds, type BenchConfig } from './bench.js';

/** One (model, threads, batch) measurement with its speed relative to the first model. */
export interface ComparisonRow extends LatencyResult {
  readonly model: string;
  readonly threads: number;
  /** p50 of the first model ÷ p50 of this one (> 1: faster than the first). */
  readonly speedup: number;
}

/** The JSON document `kiln bench A.onnx B.onnx … --json` prints. */
export interface BenchComparison {
  readonly models: readonly string[];
  readonly onnxruntime: string;
  readonly cpu: string;
  readonly cores: number;
  readonly optimization: BenchConfig['optimization'];
  readonly iterations: number;
  readonly warmup: number;
  readonly results: readonly ComparisonRow[];
}

/**
 * Measures several models on the same generated inputs, interleaved round by round (see
 * `compareLatency`), so the speed-up column is a ratio measured side by side in one run.
 */
export async function compareModels(
  paths: readonly string[],
  config: BenchConfig,
  onProgress?: (done: number, total: number) => void,
): Promise<BenchComparison> {
  for (const path of paths) checkReadableFile(path, 'model');
  const results: ComparisonRow[] = [];
  const total = config.threads.length * config.batches.length * config.iterations * paths.length;
  let done = 0;
  for (const threads of config.threads) {
    const engines: Engine[] = [];
    try {
      for (const path of paths) engines.push(await Engine.load(path, { intraOpThreads: threads, graphOptimizationLevel: config.optimization }));
      for (const batch of config.batches) {
        const feeds = engines.map((engine) => benchFeeds(engine, config, batch));
        const base = done;
        const measured = await compareLatency(engines, feeds, {
          warmup: config.warmup,
          iterations: config.iterations,
          onProgress: (runs) => onProgress?.((done = base + runs), total),
        });
        const reference = measured[0]!.p50Ms;
        measured.forEach((result, index) => results.push({ model: paths[index]!, threads, ...result, speedup: reference / result.p50Ms }));
      }
    } finally {
      for (const engine of engines) await engine.release();
    }
  }
  return {
    models: [...paths],
    onnxruntime: runtimeVersion(),
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    optimization: config.optimization,
    iterations: config.iterations,
    warmup: config.warmup,
    results,
  };
}

/** Renders a comparison for a terminal. */
export function renderComparison(report: BenchComparison): string {
  const rows = report.results.map((row) => [
    row.model,
    row.threads === 0 ? 'auto' : String(row.threads),
    String(row.batch),
    formatMs(row.p50Ms),
    formatMs(row.p90Ms),
    row.samplesPerSecond.toFixed(1),
    `${row.speedup.toFixed(2)}×`,
  ]);
  return [
    `cpu    ${report.cpu} (${report.cores} cores), onnxruntime ${report.onnxruntime}, ${report.iterations} runs each after ${report.warmup} warm-up, interleaved`,
    '',
    table(['model', 'threads', 'batch', 'p50 ms', 'p90 ms', 'samples/s', 'vs first'], rows),
  ].join('\n');
}

/** `kiln bench A.onnx B.onnx …`. */
export async function runBenchComparison(paths: readonly string[], config: BenchConfig, io: CliIO): Promise<void> {
  const total = config.threads.length * config.batches.length * config.iterations * paths.length;
  const bar = io.interactive && !config.json ? new SingleBar({ format: 'bench [{bar}] {value}/{total} runs', hideCursor: true }, Presets.shades_classic) : undefined;
  bar?.start(total, 0);
  try {
    const report = await compareModels(paths, config, (done) => bar?.update(done));
    bar?.stop();
    io.out(config.json ? JSON.stringify(report, null, 2) : renderComparison(report));
  } finally {
    bar?.stop();
  }
}
