/**
 * Quantize within an accuracy budget: calibrate once, rank the weighted layers by sensitivity,
 * then keep the most sensitive ones in float until the user's held-out metric is within
 * budget, keeping as many MACs in INT8 as the search can.
 *
 * The search, and what it costs in evaluations of the user's metric (E) and variants (V):
 * 1. the FP32 baseline (1 E unless given) and the fully quantized model (1 E): if it already
 *    meets the budget, stop;
 * 2. the sensitivity table (N + 1 V of output SQNR, no E; see sensitivity.ts);
 * 3. the upper end (1–2 E): the layers with a positive leave-one-out score all float, else the
 *    whole ranking float; if neither meets the budget, it is unreachable;
 * 4. a binary search over k for the shortest prefix of the ranking that meets the budget
 *    (⌈log₂ N⌉ E; the metric is close to monotone in k, and every accepted k was measured);
 * 5. pruning: each kept layer, largest MACs first, is tried back in INT8 and stays INT8 when
 *    the budget still holds (at most {@link BUDGET_DEFAULTS.pruneEvaluations} E). The ranking
 *    is by sensitivity alone, so cheap insensitive layers may ride along in the prefix; this
 *    step is what maximizes the INT8 MAC share.
 * For N = 100: 101 variant scores, and about 2 + 1 + 7 + up to 12 = 22 task evaluations.
 */
import { KilnError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { silentLogger } from '../../core/log.js';
import type { ModelProto } from '../../onnx/gen/onnx_pb.js';
import { encodeModel } from '../../onnx/model-io.js';
import { equalizeCrossLayer } from '../../onnx/passes/equalize-cross-layer.js';
import { PREPARE_PASSES, runPasses } from '../../onnx/passes/index.js';
import type { CalibrationSource, Feeds } from '../data/types.js';
import type { QuantizeOptions } from '../options.js';
import { assertNotQuantized, quantizeModel, type QuantizeReport } from '../quantize-model.js';
import { measureLayers, WEIGHTED_OPS, type WeightedLayer } from './layers.js';
import { outputFidelity } from './output-fidelity.js';
import { analyzeSensitivity, type SensitivityMethod, type SensitivityReport } from './sensitivity.js';
import { VariantBuilder } from './variants.js';

/**
 * What "within budget" means, in the metric's own units. `max-drop`: baseline − metric ≤
 * maxDrop (accuracy in percentage points when the metric is a percentage). `min-metric`: a
 * floor, e.g. an output SQNR of at least 30 dB.
 */
export type AccuracyBudget = { readonly kind: 'max-drop'; readonly maxDrop: number } | { readonly kind: 'min-metric'; readonly min: number };

/** Defaults of {@link BudgetOptions}. */
export const BUDGET_DEFAULTS = Object.freeze({ pruneEvaluations: 12 });

/** Options of {@link quantizeWithBudget}. */
export interface BudgetOptions extends QuantizeOptions {
  readonly budget: AccuracyBudget;
  /** The held-out task metric of a model (bytes); higher is better. Called about 10 to 25 times. */
  readonly evaluate: (modelBytes: Uint8Array) => Promise<number>;
  /** The FP32 model's metric, when already known. @defaultValue evaluated once */
  readonly baseline?: number;
  /** Held-out inputs for the sensitivity table (output SQNR against FP32); 8 to 64 is plenty. */
  readonly sensitivityFeeds: readonly Feeds[];
  /** @defaultValue `'leave-one-out'` */
  readonly sensitivityMethod?: SensitivityMethod;
  /** @defaultValue {@link BUDGET_DEFAULTS.pruneEvaluations} */
  readonly pruneEvaluations?: number;
  /**
   * Cross-layer equalization before calibration (see accuracy-passes.ts). Bias correction is
   * not offered here: a corrected bias is only right while its layer is INT8. @defaultValue false
   */
  readonly equalize?: boolean;
  /** @defaultValue 0 (onnxruntime decides) */
  readonly intraOpThreads?: number;
  readonly logger?: Logger;
}

/** A layer the budget kept in float. */
export type FloatLayer = WeightedLayer;

/** What the budget search did and found. */
export interface BudgetReport {
  readonly budget: AccuracyBudget;
  readonly baseline: number;
  /** The metric with every layer quantized (the default INT8 model). */
  readonly fullyQuantizedMetric: number;
  readonly finalMetric: number;
  /** baseline − finalMetric. */
  readonly drop: number;
  readonly floatLayers: readonly FloatLayer[];
  readonly totalMacs: number;
  /** Share of the weighted layers' MACs that run in INT8 (1 when nothing is kept float). */
  readonly int8MacShare: number;
  /** Undefined when the fully quantized model already met the budget. */
  readonly sensitivity: SensitivityReport | undefined;
  /** Calls of `evaluate` (task metric) and variants built (each scored or evaluated once). */
  readonly evaluations: { readonly metric: number; readonly variants: number };
  /** The quantizer's report of the final model. */
  readonly quantize: QuantizeReport;
}

/** Whether a metric meets the budget. */
export function withinBudget(budget: AccuracyBudget, baseline: number, metric: number): boolean {
  return budget.kind === 'max-drop' ? baseline - metric <= budget.maxDrop + 1e-12 : metric >= budget.min;
}

function describeBudget(budget: AccuracyBudget): string {
  return budget.kind === 'max-drop' ? `a drop of at most ${budget.maxDrop}` : `a metric of at least ${budget.min}`;
}

/**
 * Static INT8 quantization that meets an accuracy budget on held-out data by keeping the most
 * sensitive weighted layers in float (see the module comment for the search and its cost).
 * Calibrates `source` once (or replays `options.ranges`) and reuses the ranges for every
 * variant. Throws `KILN_QUANTIZE_BUDGET_UNREACHABLE` when even every weighted layer in float
 * misses the budget.
 * @example
 * const { model, report } = await quantizeWithBudget(fp32, calib, {
 *   budget: { kind: 'max-drop', maxDrop: 0.5 }, evaluate: charAccuracyPp, sensitivityFeeds: heldOut.slice(0, 32) });
 */
export async function quantizeWithBudget(
  model: ModelProto,
  source: CalibrationSource | undefined,
  options: BudgetOptions,
): Promise<{ model: ModelProto; report: BudgetReport }> {
  const logger = options.logger ?? silentLogger();
  if (options.sensitivityFeeds.length === 0) throw new KilnError('KILN_CORE_INVALID_ARGUMENT', 'accuracy budget: no held-out inputs for the sensitivity analysis');
  assertNotQuantized(model);
  const cleaned = runPasses(model, PREPARE_PASSES).model;
  const prepared = options.equalize ? equalizeCrossLayer(cleaned).model : cleaned;
  const quantizeOptions = quantizerOptions(options);
  // Calibrate once; every variant below replays these ranges.
  const first = await quantizeModel(prepared, source, { ...quantizeOptions, ...(options.intraOpThreads !== undefined ? { intraOpThreads: options.intraOpThreads } : {}), logger });
  const builder = new VariantBuilder(prepared, first.report.ranges, quantizeOptions);
  const names = first.report.quantizedNodes.filter((node) => WEIGHTED_OPS.has(node.opType)).map((node) => node.name);
  const layers = await measureLayers(prepared, names, options.sensitivityFeeds[0]!, options.intraOpThreads ?? 0);
  const totalMacs = layers.reduce((sum, layer) => sum + layer.macs, 0);
  const macsOf = new Map(layers.map((layer) => [layer.name, layer]));

  let metricCalls = 0;
  const evaluate = async (bytes: Uint8Array) => {
    metricCalls++;
    return options.evaluate(bytes);
  };
  const baseline = options.baseline ?? (await evaluate(encodeModel(model)));
  const fullBytes = encodeModel(first.model);
  const fullMetric = await evaluate(fullBytes);
  const meets = (metric: number) => withinBudget(options.budget, baseline, metric);
  logger.info({ baseline, fullMetric, layers: layers.length }, 'accuracy budget: fully quantized model measured');

  const finish = (floatNames: readonly string[], metric: number, quantize: QuantizeReport, finalModel: ModelProto, sensitivity: SensitivityReport | undefined) => {
    const floatLayers = floatNames.map((name) => macsOf.get(name)!);
    const floatMacs = floatLayers.reduce((sum, layer) => sum + layer.macs, 0);
    const report: BudgetReport = {
      budget: options.budget,
      baseline,
      fullyQuantizedMetric: fullMetric,
      finalMetric: metric,
      drop: baseline - metric,
      floatLayers,
      totalMacs,
      int8MacShare: totalMacs === 0 ? 1 : (totalMacs - floatMacs) / totalMacs,
      sensitivity,
      evaluations: { metric: metricCalls, variants: builder.built + 1 },
      quantize,
    };
    return { model: finalModel, report };
  };
  if (meets(fullMetric)) return finish([], fullMetric, first.report, first.model, undefined);

  const tried = new Map<string, number>();
  const metricWith = async (floatNames: readonly string[]) => {
    const key = [...floatNames].sort().join('\n');
    const known = tried.get(key);
    if (known !== undefined) return known;
    const metric = await evaluate((await builder.build(floatNames)).bytes);
    tried.set(key, metric);
    logger.debug({ float: floatNames.length, metric }, 'accuracy budget: variant evaluated');
    return metric;
  };

  const fidelity = await outputFidelity(encodeModel(prepared), options.sensitivityFeeds, { intraOpThreads: options.intraOpThreads ?? 0 });
  const sensitivity = await analyzeSensitivity(layers, builder, fidelity, {
    method: options.sensitivityMethod ?? 'leave-one-out',
    onLayer: (done, total) => logger.debug({ done, total }, 'accuracy budget: sensitivity'),
  });
  // The upper end of the search. Keeping a layer float can hurt (its neighbours are then
  // quantized around a float tensor in another configuration: on the PP-OCRv4 recognizer all
  // weighted layers float score far below fully INT8), so the layers whose leave-one-out score
  // is positive are tried first; on a deep net whose layers each matter a little (MobileNetV2)
  // single-layer scores sit near the noise and only the whole ranking meets the budget.
  const ranking = sensitivity.layers.map((layer) => layer.name);
  const helpful = sensitivity.method === 'leave-one-out' ? sensitivity.layers.filter((layer) => layer.score > 0).length : ranking.length;
  logger.info({ helpful, mostSensitive: ranking.slice(0, 5) }, 'accuracy budget: sensitivity table done');
  const tries: { count: number; metric: number }[] = [];
  for (const count of [...new Set([helpful, ranking.length])].filter((count) => count > 0)) {
    tries.push({ count, metric: await metricWith(ranking.slice(0, count)) });
    if (meets(tries.at(-1)!.metric)) break;
  }
  const upper = tries.find((attempt) => meets(attempt.metric));
  if (!upper) {
    const tried = tries.map((attempt) => `${attempt.metric.toFixed(4)} with the ${attempt.count} most sensitive in float`).join(', ');
    throw new KilnError(
      'KILN_QUANTIZE_BUDGET_UNREACHABLE',
      `accuracy budget unreachable: ${describeBudget(options.budget)} was asked, but the metric is ${tried || 'unchanged'} (of ${layers.length} weighted layers; ` +
        `FP32 ${baseline.toFixed(4)}, fully INT8 ${fullMetric.toFixed(4)}); the rest of the error comes from quantized activations of other ops, ` +
        'or the budget is finer than the evaluation set can measure: loosen the budget, exclude more ops, or use more held-out data',
      { details: { baseline, fullyQuantized: fullMetric, tries, layers: layers.length } },
    );
  }
  // Shortest prefix of the ranking that meets the budget: prefix 0 fails, the whole holds.
  let low = 0;
  let high = upper.count;
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (meets(await metricWith(ranking.slice(0, middle)))) high = middle;
    else low = middle;
  }
  let kept = ranking.slice(0, high);
  // Pruning: give INT8 back to the largest kept layers that the budget does not need.
  const limit = options.pruneEvaluations ?? BUDGET_DEFAULTS.pruneEvaluations;
  const candidates = [...kept].sort((a, b) => macsOf.get(b)!.macs - macsOf.get(a)!.macs).slice(0, limit);
  for (const name of kept.length > 1 ? candidates : []) {
    const without = kept.filter((other) => other !== name);
    if (meets(await metricWith(without))) kept = without;
  }
  const finalMetric = await metricWith(kept);
  logger.info({ kept, finalMetric }, 'accuracy budget: search done');
  const final = await builder.build(kept);
  return finish(kept, finalMetric, final.report, final.model, sensitivity);
}

/** The quantizer's own options out of the budget options. */
function quantizerOptions(options: BudgetOptions): QuantizeOptions {
  const { budget: _budget, evaluate: _evaluate, baseline: _baseline, sensitivityFeeds: _feeds, sensitivityMethod: _method, pruneEvaluations: _prune, equalize: _equalize, intraOpThreads: _threads, logger: _logger, ...rest } = options;
  return rest;
}
