/**
 * Static INT8 with an accuracy target: the budget search of quantize/budget driven by held-out
 * data the caller names (a top-1 drop on labelled ImageFolder data, or an output-SQNR floor on
 * any data), and the optional accuracy passes (cross-layer equalization, bias correction).
 * The held-out samples are read once into memory and every variant is scored on the same ones.
 */
import { KilnError } from '../core/errors.js';
import { argmax } from '../evaluate/fidelity.js';
import type { ModelProto } from '../onnx/gen/onnx_pb.js';
import { encodeModel } from '../onnx/model-io.js';
import { quantizeWithAccuracyPasses, type AccuracyPassReport } from '../quantize/accuracy-passes.js';
import { outputFidelity, quantizeWithBudget, type BudgetReport } from '../quantize/budget/index.js';
import type { CalibrationSource, Feeds } from '../quantize/data/types.js';
import type { QuantizeReport, QuantizeRunOptions } from '../quantize/quantize-model.js';
import { Engine } from '../runtime/engine.js';
import { openLabelledData } from './labelled-data.js';
import type { AccuracyTarget, ModelData, StaticMode } from './types.js';

/** Held-out samples scored per variant, unless the target says otherwise. */
export const ACCURACY_DEFAULTS = Object.freeze({ heldOutSamples: 128, sensitivitySamples: 16 });

/** What {@link staticWithAccuracy} adds to the quantizer's own report. */
export interface AccuracyOutcome {
  readonly model: ModelProto;
  readonly report: QuantizeReport;
  readonly budget?: Omit<BudgetReport, 'quantize'>;
  readonly passes?: AccuracyPassReport;
}

/** True when a static mode asks for anything beyond plain calibrated QDQ. */
export function wantsAccuracyWork(mode: StaticMode): boolean {
  return mode.budget !== undefined || mode.equalize === true || mode.biasCorrection === true;
}

/**
 * Static INT8 through the budget search (when `mode.budget` is set) or the accuracy passes.
 * @throws KilnError `KILN_CORE_INVALID_ARGUMENT` for bias correction with a budget (a corrected
 *   bias is only right while its layer stays INT8, which the search changes) or without
 *   calibration data; `KILN_QUANTIZE_BUDGET_UNREACHABLE` from the search.
 */
export async function staticWithAccuracy(
  model: ModelProto,
  mode: StaticMode,
  source: CalibrationSource | undefined,
  options: QuantizeRunOptions,
  openData: (data: ModelData) => CalibrationSource,
): Promise<AccuracyOutcome> {
  if (mode.biasCorrection && !source) {
    throw new KilnError('KILN_CORE_INVALID_ARGUMENT', 'bias correction measures activation means on calibration data: give --calib (ranges replayed with --ranges are not enough)');
  }
  if (!mode.budget) {
    const { model: quantized, report, passes } = await quantizeWithAccuracyPasses(model, source, { ...options, equalize: mode.equalize ?? false, biasCorrection: mode.biasCorrection ?? false });
    return { model: quantized, report, passes };
  }
  if (mode.biasCorrection) {
    throw new KilnError('KILN_CORE_INVALID_ARGUMENT', 'bias correction cannot be combined with an accuracy budget: a corrected bias is only right while its layer stays INT8, and the budget search moves layers to float');
  }
  const target = mode.budget;
  const { evaluate, feeds, baseline } = await heldOutMetric(model, target, openData);
  const { model: quantized, report } = await quantizeWithBudget(model, source, {
    ...options,
    budget: target.kind === 'max-drop' ? { kind: 'max-drop', maxDrop: target.maxDropPp } : { kind: 'min-metric', min: target.minSqnrDb },
    evaluate,
    ...(baseline !== undefined ? { baseline } : {}),
    sensitivityFeeds: feeds.slice(0, ACCURACY_DEFAULTS.sensitivitySamples),
    equalize: mode.equalize ?? false,
  });
  const { quantize: quantizeReport, ...budget } = report;
  return { model: quantized, report: quantizeReport, budget };
}

/** The metric a budget is measured in, on held-out samples read once. */
async function heldOutMetric(
  model: ModelProto,
  target: AccuracyTarget,
  openData: (data: ModelData) => CalibrationSource,
): Promise<{ evaluate: (bytes: Uint8Array) => Promise<number>; feeds: readonly Feeds[]; baseline: number | undefined }> {
  const limit = target.samples ?? ACCURACY_DEFAULTS.heldOutSamples;
  if (target.kind === 'min-sqnr') {
    const heldOut = openData(target.heldOut);
    const feeds = await collect(heldOut.samples(), limit);
    if (feeds.length === 0) throw new KilnError('KILN_CORE_INVALID_ARGUMENT', `--min-sqnr: the held-out data (${heldOut.description}) has no samples`);
    // A floor on SQNR against FP32: FP32 itself is infinitely faithful.
    return { evaluate: await outputFidelity(encodeModel(model), feeds), feeds, baseline: Number.POSITIVE_INFINITY };
  }
  const labelled = openLabelledData(target.heldOut, { ...(target.options ?? {}), limit }, target.labels);
  const feeds = await collect(labelled.source.samples(), limit);
  const labels = [...labelled.labels];
  if (feeds.length === 0) throw new KilnError('KILN_CORE_INVALID_ARGUMENT', `--max-drop: no labelled images in ${target.heldOut}`);
  const evaluate = async (bytes: Uint8Array) => top1Percent(bytes, feeds, labels);
  return { evaluate, feeds, baseline: undefined };
}

async function collect(samples: AsyncIterable<Feeds>, limit: number): Promise<Feeds[]> {
  const feeds: Feeds[] = [];
  for await (const sample of samples) {
    feeds.push(sample);
    if (feeds.length >= limit) break;
  }
  return feeds;
}

/** Top-1 accuracy in percent: the argmax of the first output's row against each label. */
async function top1Percent(bytes: Uint8Array, feeds: readonly Feeds[], labels: readonly number[]): Promise<number> {
  const engine = await Engine.load(bytes, { label: 'accuracy budget variant' });
  try {
    let correct = 0;
    const output = engine.outputs[0]!.name;
    for (let i = 0; i < feeds.length; i++) {
      const scores = (await engine.run(feeds[i]!, [output]))[output]!;
      const values = scores.data as Float32Array;
      if (argmax(values, 0, values.length) === labels[i]) correct++;
    }
    return (100 * correct) / feeds.length;
  } finally {
    await engine.release();
  }
}
