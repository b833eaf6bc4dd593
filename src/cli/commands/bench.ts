import { cpus } from 'node:os';
import { SingleBar, Presets } from 'cli-progress';
import { checkReadableFile } from '../../core/fs.js';
import { LATENCY_DEFAULTS, measureLatency, type LatencyResult } from '../../evaluate/latency.js';
import { Engine, runtimeVersion, type GraphOptimizationLevel } from '../../runtime/engine.js';
import { makeFeeds } from '../../runtime/feeds.js';
import { formatMs, table } from '../format.js';
import type { CliIO } from '../io.js';

/** Flags of `kiln bench`, resolved. */
export interface BenchConfig {
  readonly batches: readonly number[];
  /** True when --batch was given: it then also sets axis 0 of every --shape. */
  readonly batchExplicit?: boolean;
  /** Intra-op thread counts; 0 lets onnxruntime choose. */
  readonly threads: readonly number[];
  readonly iterations: number;
  readonly warmup: number;
  readonly dims: Readonly<Record<string, number>>;
  readonly shapes: Readonly<Record<string, readonly number[]>>;
  readonly seed: number;
  readonly optimization: GraphOptimizationLevel;
  readonly json: boolean;
}

export { BENCH_DEFAULTS } from './bench-defaults.js';

/** One measured configuration. */
export interface BenchRow extends LatencyResult {
  readonly threads: number;
}

/** The JSON document `kiln bench --json` prints. */
export interface BenchReport {
  readonly model: string;
  readonly onnxruntime: string;
  readonly cpu: string;
  readonly cores: number;
  readonly optimization: GraphOptimizationLevel;
  readonly iterations: number;
  readonly warmup: number;
  readonly results: readonly BenchRow[];
}

/** Measures latency for every (threads, batch) pair, one session per thread count. */
export async function benchModel(
  path: string,
  config: BenchConfig,
  onProgress?: (done: number, total: number) => void,
): Promise<BenchReport> {
  checkReadableFile(path, 'model');
  const results: BenchRow[] = [];
  const total = config.threads.length * config.batches.length * config.iterations;
  let done = 0;
  for (const threads of config.threads) {
    const engine = await Engine.load(path, { intraOpThreads: threads, graphOptimizationLevel: config.optimization });
    try {
      for (const batch of config.batches) {
        const feeds = benchFeeds(engine, config, batch);
        const base = done;
        const result = await measureLatency(engine, feeds, {
          warmup: config.warmup,
          iterations: config.iterations,
          onProgress: (runs) => onProgress?.((done = base + runs), total),
        });
        results.push({ threads, ...result });
      }
    } finally {
      await engine.release();
    }
  }
  return {
    model: path,
    onnxruntime: runtimeVersion(),
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    optimization: config.optimization,
    iterations: config.iterations,
    warmup: config.warmup,
    results,
  };
}

/** The seeded inputs one (engine, batch) configuration is measured on. */
export function benchFeeds(engine: Engine, config: BenchConfig, batch: number): ReturnType<typeof makeFeeds> {
  return makeFeeds(engine.inputs, {
    batch,
    dims: config.dims,
    shapes: config.batchExplicit ? withBatch(config.shapes, batch) : config.shapes,
    seed: config.seed,
    label: engine.label,
  });
}

/** `--shape` fixes whole shapes; an explicit `--batch` still sets their first axis. */
function withBatch(shapes: Readonly<Record<string, readonly number[]>>, batch: number): Record<string, number[]> {
  return Object.fromEntries(Object.entries(shapes).map(([name, dims]) => [name, [batch, ...dims.slice(1)]]));
}

/** Renders a bench report for a terminal. */
export function renderBench(report: BenchReport): string {
  const rows = report.results.map((row) => [
    row.threads === 0 ? 'auto' : String(row.threads),
    String(row.batch),
    formatMs(row.p50Ms),
    formatMs(row.p90Ms),
    formatMs(row.p99Ms),
    row.samplesPerSecond.toFixed(1),
  ]);
  return [
    `model  ${report.model}`,
    `cpu    ${report.cpu} (${report.cores} cores), onnxruntime ${report.onnxruntime}, ${report.iterations} runs after ${report.warmup} warm-up`,
    '',
    table(['threads', 'batch', 'p50 ms', 'p90 ms', 'p99 ms', 'samples/s'], rows),
  ].join('\n');
}

/** `kiln bench MODEL`. */
export async function runBench(path: string, config: BenchConfig, io: CliIO): Promise<void> {
  const bar = io.interactive && !config.json ? new SingleBar({ format: 'bench [{bar}] {value}/{total} runs', hideCursor: true }, Presets.shades_classic) : undefined;
  bar?.start(config.threads.length * config.batches.length * config.iterations, 0);
  try {
    const report = await benchModel(path, config, (done) => bar?.update(done));
    bar?.stop();
    io.out(config.json ? JSON.stringify(report, null, 2) : renderBench(report));
  } finally {
    bar?.stop();
  }
}
