/**
 * `npm run bench:budget`: the accuracy budget and the optional accuracy passes, measured.
 *
 *   npm run bench:budget -- [--parts rec,mobilenet,passes] [--calib 64] [--eval 300]
 *     [--max-drop 0.5] [--min-sqnr 17] [--sensitivity 16] [--mnv2-resolution 224] [--threads 2] [--json out.json]
 *
 * rec: the PP-OCRv4 recognizer, calibrated on the usual calibration lines (seed 1, 16–44 px,
 *   contrast 100–255, noise ≤ 8) and judged on held-out lines drawn with another seed (7) and
 *   other settings (12–30 px, contrast 40–160, noise ≤ 14, half of them blurred). Character
 *   accuracy in percent; FP32, default INT8 and INT8 within --max-drop pp side by side.
 * mobilenet: the MobileNetV2-shaped fixture on its fidelity metric, the logits SQNR against FP32
 *   on held-out N(0,1) inputs, with the floor --min-sqnr dB.
 * passes: cross-layer equalization and bias correction on and off, per-channel and per-tensor
 *   weights, output SQNR on held-out inputs, for a depthwise-separable net with unequal
 *   depthwise channels (ReLU) and for the MobileNetV2 fixture (ReLU6, so CLE only pairs the
 *   linear bottlenecks).
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { table } from '../src/cli/format.js';
import { createLogger } from '../src/core/log.js';
import { seededRandom } from '../src/core/random.js';
import { scoreText } from '../src/evaluate/text-metrics.js';
import { encodeModel, readModel, type ModelProto } from '../src/onnx/index.js';
import { outputFidelity, quantizeWithAccuracyPasses, quantizeWithBudget, type AccuracyBudget, type BudgetReport, type CalibrationSource, type Feeds } from '../src/quantize/index.js';
import { Engine, runtimeVersion } from '../src/runtime/index.js';
import { buildDepthwiseSeparable } from '../test/fixtures/budget-models.js';
import { buildMobileNetV2 } from '../test/fixtures/mobilenet-v2.js';
import { collectSamples, generateRecSamples, ppOcrModelPath, readRecText, type RecVariation } from '../test/fixtures/ocr-eval.js';

const { values: flags } = parseArgs({
  options: {
    parts: { type: 'string', default: 'rec,mobilenet,passes' },
    calib: { type: 'string', default: '64' },
    eval: { type: 'string', default: '300' },
    'max-drop': { type: 'string', default: '0.5' },
    'min-sqnr': { type: 'string', default: '17' },
    sensitivity: { type: 'string', default: '16' },
    'mnv2-resolution': { type: 'string', default: '224' },
    threads: { type: 'string', default: '2' },
    json: { type: 'string' },
  },
});
const threads = Number(flags.threads);
const parts = new Set(flags.parts.split(','));
const results: Record<string, unknown> = {};
/** Progress as JSON lines on stderr (KILN_LOG_LEVEL=debug shows every variant). */
const logger = createLogger({ base: { bench: 'budget' } });

/** Held-out recognizer lines: another seed and other sizes, contrast and noise than calibration. */
const HELD_OUT: RecVariation = { fontSize: [12, 30], contrast: [40, 160], noise: 14, blurChance: 0.5 };

function sourceOf(description: string, feeds: readonly Feeds[]): CalibrationSource {
  return { description, count: feeds.length, async *samples() { yield* feeds; } };
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const started = performance.now();
  const value = await work();
  return { value, seconds: (performance.now() - started) / 1000 };
}

function budgetRows(report: BudgetReport, unit: string, digits: number): string {
  const fmt = (value: number) => (Number.isFinite(value) ? value.toFixed(digits) : String(value));
  const lines = [
    table(
      ['model', `metric (${unit})`, 'INT8 MAC share', 'layers float'],
      [
        ['FP32', fmt(report.baseline), '0 %', 'all'],
        ['INT8 default', fmt(report.fullyQuantizedMetric), '100 %', '0'],
        ['INT8 within budget', fmt(report.finalMetric), `${(report.int8MacShare * 100).toFixed(2)} %`, String(report.floatLayers.length)],
      ],
    ),
    `kept float: ${report.floatLayers.map((layer) => `${layer.name} (${layer.opType}, ${(layer.macs / 1e6).toFixed(2)} MMAC)`).join(', ') || 'none'}`,
    `total ${(report.totalMacs / 1e6).toFixed(1)} MMAC in ${report.quantize.quantizedNodes.length} quantized nodes; evaluations: ${report.evaluations.metric} task metric, ${report.evaluations.variants} variants built`,
  ];
  if (report.sensitivity) {
    const top = report.sensitivity.layers.slice(0, 8).map((layer) => [layer.name, layer.opType, (layer.macs / 1e6).toFixed(2), layer.sqnrDb.toFixed(2), layer.score.toFixed(2)]);
    lines.push(`sensitivity (${report.sensitivity.method}, fully quantized ${report.sensitivity.fullyQuantizedSqnrDb.toFixed(2)} dB), top 8 of ${report.sensitivity.layers.length}:`);
    lines.push(table(['layer', 'op', 'MMAC', 'variant SQNR dB', 'score dB'], top));
  }
  return lines.join('\n');
}

const summary = (report: BudgetReport) => ({ ...report, quantize: undefined, sensitivity: report.sensitivity && { ...report.sensitivity, layers: report.sensitivity.layers.slice(0, 20) } });

async function recognizer(): Promise<void> {
  const calib = await collectSamples(generateRecSamples({ split: 'calibration', count: Number(flags.calib), seed: 1 }));
  const heldOut = await collectSamples(generateRecSamples({ split: 'evaluation', count: Number(flags.eval), seed: 7, variation: HELD_OUT }));
  const evaluate = async (bytes: Uint8Array) => {
    const engine = await Engine.load(bytes, { intraOpThreads: threads, label: 'rec variant' });
    const pairs = [];
    try {
      for (const sample of heldOut) pairs.push({ reference: sample.label, hypothesis: readRecText(await engine.run(sample.feeds)) });
    } finally {
      await engine.release();
    }
    return scoreText(pairs).characterAccuracy * 100;
  };
  const { model } = readModel(ppOcrModelPath('rec'));
  const budget: AccuracyBudget = { kind: 'max-drop', maxDrop: Number(flags['max-drop']) };
  const { value, seconds } = await timed(() =>
    quantizeWithBudget(model, sourceOf(`${calib.length} calibration lines`, calib.map((sample) => sample.feeds)), {
      budget,
      evaluate,
      sensitivityFeeds: heldOut.slice(0, Number(flags.sensitivity)).map((sample) => sample.feeds),
      intraOpThreads: threads,
      logger,
    }),
  );
  const report = value.report;
  console.log(`\n## PP-OCRv4 recognizer, character accuracy on ${heldOut.length} held-out lines (seed 7, 12–30 px, contrast 40–160, noise ≤ 14); calibration ${calib.length} lines (seed 1); budget: drop ≤ ${budget.maxDrop} pp`);
  console.log(budgetRows(report, '%', 2));
  console.log(`default INT8 drop ${(report.baseline - report.fullyQuantizedMetric).toFixed(2)} pp, budgeted drop ${report.drop.toFixed(2)} pp; ${seconds.toFixed(0)} s in all`);
  results.rec = { seconds, heldOut: heldOut.length, calib: calib.length, report: summary(report) };
}

/** A seeded N(0, 1) image (the MobileNetV2 fixture's BN statistics assume normalized input). */
function gaussian(seed: number, resolution: number): Feeds {
  const random = seededRandom(seed);
  const data = new Float32Array(3 * resolution * resolution);
  for (let index = 0; index < data.length; index += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - random()));
    const angle = 2 * Math.PI * random();
    data[index] = radius * Math.cos(angle);
    if (index + 1 < data.length) data[index + 1] = radius * Math.sin(angle);
  }
  return { input: { type: 'float32', dims: [1, 3, resolution, resolution], data } };
}

async function mobilenet(): Promise<void> {
  const resolution = Number(flags['mnv2-resolution']);
  const model = buildMobileNetV2({ resolution });
  const calib = Array.from({ length: 32 }, (_, index) => gaussian(1 + index, resolution));
  const heldOut = Array.from({ length: 16 }, (_, index) => gaussian(100_000 + index, resolution));
  const metric = await outputFidelity(encodeModel(model), heldOut, { intraOpThreads: threads });
  const budget: AccuracyBudget = { kind: 'min-metric', min: Number(flags['min-sqnr']) };
  const { value, seconds } = await timed(() =>
    quantizeWithBudget(model, sourceOf('32 N(0,1) images', calib), { budget, evaluate: metric, baseline: Number.POSITIVE_INFINITY, sensitivityFeeds: heldOut, intraOpThreads: threads, logger }),
  );
  console.log(`\n## MobileNetV2 fixture (${resolution}×${resolution}), logits SQNR vs FP32 on 16 held-out inputs; calibration 32 inputs; budget: SQNR ≥ ${budget.min} dB`);
  console.log(budgetRows(value.report, 'dB', 2));
  console.log(`${seconds.toFixed(0)} s in all`);
  results.mobilenet = { seconds, resolution, report: summary(value.report) };
}

async function passesOn(name: string, model: ModelProto, feed: (seed: number) => Feeds): Promise<string[][]> {
  const calib = sourceOf('32 inputs', Array.from({ length: 32 }, (_, index) => feed(1 + index)));
  const metric = await outputFidelity(encodeModel(model), Array.from({ length: 16 }, (_, index) => feed(100_000 + index)), { intraOpThreads: threads });
  const rows: string[][] = [];
  for (const perChannel of [true, false]) {
    const sqnr: number[] = [];
    for (const [equalize, biasCorrection] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const { model: quantized, passes } = await quantizeWithAccuracyPasses(model, calib, { perChannel, equalize, biasCorrection, intraOpThreads: threads });
      sqnr.push(await metric(encodeModel(quantized)));
      if (equalize && biasCorrection) rows.push([name, perChannel ? 'per-channel' : 'per-tensor', ...sqnr.map((db) => db.toFixed(2)), String(passes.equalizedPairs), String(passes.correctedBiases)]);
    }
  }
  return rows;
}

async function accuracyPasses(): Promise<void> {
  const resolution = Number(flags['mnv2-resolution']);
  const rows = [
    ...(await passesOn('depthwise-separable (ReLU, 100× channel spread)', buildDepthwiseSeparable(), (seed) => gaussian(seed, 32))),
    ...(await passesOn(`MobileNetV2 fixture ${resolution}² (ReLU6)`, buildMobileNetV2({ resolution }), (seed) => gaussian(seed, resolution))),
  ];
  console.log('\n## Cross-layer equalization (CLE) and bias correction (BC): output SQNR dB vs FP32 on 16 held-out inputs, calibration 32 inputs (MSE)');
  console.log(table(['model', 'weights', 'none', 'CLE', 'BC', 'CLE+BC', 'pairs', 'biases'], rows));
  results.passes = rows;
}

console.log(`kiln accuracy budget bench — ${cpus()[0]?.model.trim()} (${cpus().length} cores), node ${process.version}, onnxruntime-node ${runtimeVersion()}, ${threads} threads`);
if (parts.has('passes')) await accuracyPasses();
if (parts.has('mobilenet')) await mobilenet();
if (parts.has('rec')) await recognizer();
if (flags.json) writeFileSync(flags.json, `${JSON.stringify(results, (_, value) => (typeof value === 'number' && !Number.isFinite(value) ? String(value) : value), 2)}\n`);
