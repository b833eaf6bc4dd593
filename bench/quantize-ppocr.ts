/**
 * FP32 against INT8 on the three PP-OCR models, one row per calibration method:
 *
 *   npx tsx bench/quantize-ppocr.ts [--models rec,cls,det] [--eval N] [--calib N]
 *     [--methods minmax,percentile,entropy,mse] [--json out.json] [--fp32-only]
 *     [--threads N] [--seed N] [--out-dir DIR]
 *
 * For each model: a calibration split and a disjoint evaluation split are generated
 * (test/fixtures/ocr-eval.ts); each method quantizes the model from the calibration split
 * through {@link quantizeForEval}; then one pass over the evaluation split runs FP32 and every
 * INT8 model on the same feeds and scores them: task metric (rec character accuracy, cls
 * accuracy, det F1 at IoU ≥ 0.5), output SQNR and top-1 agreement against FP32, file size,
 * and McNemar counts (rec: exact lines, cls: samples, det: truth lines found).
 * INT8 models are written to --out-dir (default tmp/quantize-ppocr, git-ignored);
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Presets, SingleBar } from 'cli-progress';
import { table } from '../src/cli/format.js';
import { SqnrAccumulator, thresholdAgreement, top1Agreement, type Agreement } from '../src/evaluate/fidelity.js';
import { matchBoxes, pairedOutcomes, scoreDetection, scoreText, type Box, type PairedCounts } from '../src/evaluate/text-metrics.js';
import { DETECT_DEFAULTS } from '../src/handlers/ocr/detect.js';
import { quantize, readInput } from '../src/optimize/quantize.js';
import type { ParsedModel, QuantizeProgress, QuantizeRunReport } from '../src/optimize/types.js';
import { calibrationConfig, type CalibrationSource } from '../src/quantize/index.js';
import { Engine, runtimeVersion, type HostTensor } from '../src/runtime/index.js';
import {
  collectSamples, generateClsSamples, generateDetSamples, generateRecSamples, ppOcrModelPath, readDetBoxes, readOrientation, readRecText,
  type ClsSample, type DetSample, type OcrEvalOptions, type OcrEvalSample, type OcrEvalSet, type OcrEvalTask, type RecSample,
} from '../test/fixtures/ocr-eval.js';

type Method = 'minmax' | 'percentile' | 'entropy' | 'mse';
const METHODS: readonly Method[] = ['minmax', 'percentile', 'entropy', 'mse'];
type Feeds = Readonly<Record<string, HostTensor>>;

/**
 * The one call from this harness into kiln's quantizer: the library pipeline (quantize, fusion
 * check, write). Unfused nodes are kept: this harness measures accuracy, not kernel choice.
 */
async function quantizeForEval(
  model: ParsedModel,
  outPath: string,
  calibration: CalibrationSource,
  method: Method,
  options: { threads: number; onProgress?: (done: number) => void },
): Promise<QuantizeRunReport> {
  return quantize(model, {
    mode: { kind: 'static', calibration: calibrationConfig(method), scheme: 'U8S8', perChannel: true, reduceRange: false, excludeNodes: [], excludeOpTypes: [] },
    output: outPath,
    force: true,
    data: { source: calibration },
    allowUnfused: true,
    sqnrSamples: 0,
    intraOpThreads: options.threads,
    ...(options.onProgress ? { onProgress: ({ phase, done }: QuantizeProgress) => phase === 'calibrate' && options.onProgress!(done) } : {}),
  });
}

/** Scores one model variant's outputs, sample by sample. */
interface Scorer<S> {
  add(sample: S, outputs: Feeds): void;
  /** Per item: right or wrong (the unit of the McNemar counts). */
  readonly outcomes: boolean[];
  summary(): { metric: number; details: Record<string, number> };
}

interface TaskSpec<S> {
  readonly metricName: string;
  readonly outcomeUnit: string;
  generate(options: OcrEvalOptions): OcrEvalSet<S>;
  scorer(): Scorer<S>;
  /** Agreement of INT8 with FP32 on one sample's output. */
  agreement(reference: HostTensor, test: HostTensor): Agreement;
}

const firstOutput = (outputs: Feeds): HostTensor => Object.values(outputs)[0]!;
const floats = (tensor: HostTensor): Float32Array => tensor.data as Float32Array;

const REC: TaskSpec<RecSample> = {
  metricName: 'char accuracy',
  outcomeUnit: 'exact lines',
  generate: generateRecSamples,
  scorer() {
    const pairs: { reference: string; hypothesis: string }[] = [];
    const outcomes: boolean[] = [];
    return {
      outcomes,
      add(sample, outputs) {
        const hypothesis = readRecText(outputs);
        pairs.push({ reference: sample.label, hypothesis });
        outcomes.push(hypothesis === sample.label);
      },
      summary() {
        const score = scoreText(pairs);
        return { metric: score.characterAccuracy, details: { lineAccuracy: score.lineAccuracy, edits: score.edits, referenceChars: score.referenceChars } };
      },
    };
  },
  agreement: (reference, test) => top1Agreement(floats(reference), floats(test), reference.dims.at(-1) ?? 1),
};

const CLS: TaskSpec<ClsSample> = {
  metricName: 'accuracy',
  outcomeUnit: 'samples',
  generate: generateClsSamples,
  scorer() {
    const outcomes: boolean[] = [];
    return {
      outcomes,
      add: (sample, outputs) => void outcomes.push(readOrientation(outputs) === sample.label),
      summary: () => ({ metric: outcomes.filter(Boolean).length / outcomes.length, details: { samples: outcomes.length } }),
    };
  },
  agreement: (reference, test) => top1Agreement(floats(reference), floats(test), reference.dims.at(-1) ?? 1),
};

const DET: TaskSpec<DetSample> = {
  metricName: 'F1 (IoU>=0.5)',
  outcomeUnit: 'truth lines found',
  generate: generateDetSamples,
  scorer() {
    const pages: { truth: Box[]; found: Box[] }[] = [];
    const outcomes: boolean[] = [];
    return {
      outcomes,
      add(sample, outputs) {
        const found = readDetBoxes(outputs, sample.image);
        pages.push({ truth: sample.label, found });
        const matched = new Set(matchBoxes(sample.label, found).map((match) => match.truth));
        sample.label.forEach((_, index) => outcomes.push(matched.has(index)));
      },
      summary() {
        const score = scoreDetection(pages);
        return { metric: score.f1, details: { precision: score.precision, recall: score.recall, truePositives: score.truePositives, falsePositives: score.falsePositives, falseNegatives: score.falseNegatives } };
      },
    };
  },
  // Pixels on the same side of the detector's text threshold.
  agreement: (reference, test) => thresholdAgreement(floats(reference), floats(test), DETECT_DEFAULTS.binaryThreshold),
};

const TASKS: Readonly<Record<OcrEvalTask, TaskSpec<never>>> = { rec: REC, cls: CLS, det: DET } as never;

interface Settings {
  readonly models: OcrEvalTask[];
  readonly evalCount: number;
  readonly calibCount: number;
  readonly methods: Method[];
  readonly fp32Only: boolean;
  readonly threads: number;
  readonly seed: number;
  readonly outDir: string;
  readonly json: string | undefined;
}

function parseSettings(): Settings {
  const { values } = parseArgs({
    options: {
      models: { type: 'string', default: 'rec,cls,det' },
      eval: { type: 'string', default: '600' },
      calib: { type: 'string', default: '256' },
      methods: { type: 'string', default: METHODS.join(',') },
      json: { type: 'string' },
      'fp32-only': { type: 'boolean', default: false },
      threads: { type: 'string', default: '2' },
      seed: { type: 'string', default: '1' },
      'out-dir': { type: 'string', default: 'tmp/quantize-ppocr' },
    },
  });
  const list = <T extends string>(text: string, allowed: readonly T[], what: string): T[] =>
    text.split(',').map((item) => {
      if (!allowed.includes(item.trim() as T)) throw new Error(`unknown ${what} '${item}' (use ${allowed.join(', ')})`);
      return item.trim() as T;
    });
  const count = (text: string, what: string): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < 1) throw new Error(`--${what} must be a positive integer, not '${text}'`);
    return value;
  };
  const fp32Only = values['fp32-only'];
  return {
    models: list(values.models, ['rec', 'cls', 'det'] as const, 'model'),
    evalCount: count(values.eval, 'eval'),
    calibCount: count(values.calib, 'calib'),
    methods: fp32Only ? [] : list(values.methods, METHODS, 'method'),
    fp32Only,
    threads: count(values.threads, 'threads'),
    seed: count(values.seed, 'seed'),
    outDir: values['out-dir'],
    json: values.json,
  };
}

/** A bar on a terminal; nothing when stdout is a pipe or a file. */
function progress(label: string, total: number): { update(done: number): void; stop(): void } {
  if (!process.stdout.isTTY) return { update() {}, stop() {} };
  const bar = new SingleBar({ format: `${label.padEnd(24)} [{bar}] {value}/{total} {duration}s`, hideCursor: true }, Presets.shades_classic);
  bar.start(total, 0);
  return { update: (done) => bar.update(done), stop: () => bar.stop() };
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const started = performance.now();
  const value = await work();
  return { value, seconds: (performance.now() - started) / 1000 };
}

interface Variant {
  readonly name: 'fp32' | Method;
  readonly path: string;
  readonly quantizeSeconds?: number;
  engine?: Engine;
  scorer?: Scorer<never>;
  sqnr?: SqnrAccumulator;
  agreement?: { agree: number; total: number };
  runSeconds: number;
}

async function evaluateModel(task: OcrEvalTask, settings: Settings): Promise<Record<string, unknown>> {
  const spec = TASKS[task] as unknown as TaskSpec<OcrEvalSample<unknown>>;
  const fp32Path = ppOcrModelPath(task);
  const calibration = spec.generate({ split: 'calibration', count: settings.calibCount, seed: settings.seed });
  const evaluation = spec.generate({ split: 'evaluation', count: settings.evalCount, seed: settings.seed });
  console.log(`\n${task}: ${calibration.description}\n${task}: ${evaluation.description}`);
  const timings: Record<string, number> = {};
  const variants: Variant[] = [{ name: 'fp32', path: fp32Path, runSeconds: 0 }];
  const failures: { method: Method; error: string }[] = [];
  if (settings.fp32Only) {
    // Nothing consumes the calibration split; generate it once to time it and prove it renders.
    timings.calibrationGenerationSeconds = (await timed(() => collectSamples(calibration).then(() => undefined))).seconds;
  }
  // Parsed once for every method.
  let parsed: ParsedModel | undefined;
  for (const method of settings.methods) {
    const outPath = join(settings.outDir, `${task}-${method}.onnx`);
    const source: CalibrationSource = {
      description: calibration.description,
      count: calibration.count,
      async *samples() {
        for await (const sample of calibration) yield sample.feeds;
      },
    };
    const bar = progress(`${task} ${method} calibration`, calibration.count);
    let failure: string | undefined;
    try {
      const options = { threads: settings.threads, onProgress: bar.update };
      const report = await quantizeForEval((parsed ??= readInput(fp32Path)), outPath, source, method, options);
      variants.push({ name: method, path: outPath, quantizeSeconds: report.timing.quantizeMs / 1000, runSeconds: 0 });
    } catch (error) {
      failure = (error as Error).message;
    } finally {
      bar.stop();
    }
    // A failed method is reported and skipped; the other methods still run.
    if (failure) {
      failures.push({ method, error: failure });
      console.log(`${task} ${method}: quantization failed: ${failure}`);
    }
  }
  for (const variant of variants) {
    variant.engine = await Engine.load(variant.path, { intraOpThreads: settings.threads, label: `${task}-${variant.name}` });
    variant.scorer = spec.scorer() as Scorer<never>;
    if (variant.name !== 'fp32') [variant.sqnr, variant.agreement] = [new SqnrAccumulator(), { agree: 0, total: 0 }];
  }
  const bar = progress(`${task} evaluation`, evaluation.count);
  let generationSeconds = 0;
  let done = 0;
  let mark = performance.now();
  for await (const sample of evaluation) {
    generationSeconds += (performance.now() - mark) / 1000;
    let reference: HostTensor | undefined;
    for (const variant of variants) {
      const started = performance.now();
      const outputs = await variant.engine!.run(sample.feeds);
      variant.runSeconds += (performance.now() - started) / 1000;
      (variant.scorer as Scorer<OcrEvalSample<unknown>>).add(sample, outputs);
      const output = firstOutput(outputs);
      if (!reference) reference = output;
      else {
        variant.sqnr!.add(floats(reference), floats(output));
        const agreement = spec.agreement(reference, output);
        variant.agreement!.agree += agreement.agree;
        variant.agreement!.total += agreement.total;
      }
    }
    bar.update(++done);
    mark = performance.now();
  }
  bar.stop();
  timings.evaluationGenerationSeconds = generationSeconds;
  await Promise.all(variants.map((variant) => variant.engine!.release()));

  const fp32 = variants[0]!;
  const fp32Summary = fp32.scorer!.summary();
  const fp32Bytes = statSync(fp32Path).size;
  const rows = variants.map((variant) => {
    const summary = variant.scorer!.summary();
    const mcnemar: PairedCounts | undefined = variant === fp32 ? undefined : pairedOutcomes(fp32.scorer!.outcomes, variant.scorer!.outcomes);
    return {
      method: variant.name,
      metric: summary.metric,
      details: summary.details,
      deltaPp: (summary.metric - fp32Summary.metric) * 100,
      sqnrDb: variant.sqnr?.db(),
      maxAbsError: variant.sqnr?.maxAbsError,
      top1Agreement: variant.agreement ? variant.agreement.agree / variant.agreement.total : undefined,
      sizeRatio: statSync(variant.path).size / fp32Bytes,
      mcnemar,
      quantizeSeconds: variant.quantizeSeconds,
      runSeconds: variant.runSeconds,
    };
  });
  return { task, metricName: spec.metricName, outcomeUnit: spec.outcomeUnit, fp32Path, evalCount: evaluation.count, calibCount: calibration.count, timings, rows, failures };
}

const pct = (value: number | undefined) => (value === undefined || Number.isNaN(value) ? '-' : (value * 100).toFixed(2));

function render(results: readonly Record<string, unknown>[]): string {
  const header = ['model', 'method', 'metric', 'FP32 %', 'INT8 %', 'delta pp', 'SQNR dB', 'top-1 agr %', 'size x', 'McNemar both/FP32/INT8/neither p', 'quantize s', 'run s'];
  const lines: string[][] = [];
  for (const result of results) {
    const rows = result.rows as { method: string; metric: number; deltaPp: number; sqnrDb?: number; top1Agreement?: number; sizeRatio: number; mcnemar?: PairedCounts; quantizeSeconds?: number; runSeconds: number }[];
    const fp32 = rows[0]!;
    for (const row of rows) {
      const m = row.mcnemar;
      lines.push([
        String(result.task), row.method, String(result.metricName), pct(fp32.metric), row === fp32 ? '-' : pct(row.metric),
        row === fp32 ? '-' : row.deltaPp.toFixed(2), row.sqnrDb === undefined ? '-' : row.sqnrDb.toFixed(1), pct(row.top1Agreement),
        row.sizeRatio.toFixed(3), m ? `${m.bothRight}/${m.onlyA}/${m.onlyB}/${m.bothWrong} p=${m.pValue.toPrecision(2)}` : '-',
        row.quantizeSeconds === undefined ? '-' : row.quantizeSeconds.toFixed(1), row.runSeconds.toFixed(1),
      ]);
    }
  }
  return table(header, lines);
}

async function main(): Promise<void> {
  const settings = parseSettings();
  mkdirSync(settings.outDir, { recursive: true });
  console.log(`kiln PP-OCR quantization check — ${cpus()[0]?.model.trim()} (${cpus().length} cores), node ${process.version}, onnxruntime-node ${runtimeVersion()}`);
  console.log(`eval ${settings.evalCount}, calib ${settings.calibCount}, methods ${settings.methods.join(',') || 'none (--fp32-only)'}, ${settings.threads} threads, seed ${settings.seed}`);
  const results: Record<string, unknown>[] = [];
  for (const task of settings.models) {
    const { value, seconds } = await timed(() => evaluateModel(task, settings));
    results.push({ ...value, totalSeconds: seconds });
    const timings = value.timings as Record<string, number>;
    const parts = Object.entries(timings).map(([name, s]) => `${name.replace(/Seconds$/, '')} ${s.toFixed(1)} s`);
    console.log(`${task}: ${parts.join(', ')}, total ${seconds.toFixed(1)} s`);
  }
  console.log(`\n${render(results)}`);
  if (settings.json) {
    writeFileSync(settings.json, `${JSON.stringify({ settings, runtime: runtimeVersion(), results }, (_, value) => (value === Infinity ? 'Infinity' : value), 2)}\n`);
    console.log(`\nwrote ${settings.json}`);
  }
}

await main();
