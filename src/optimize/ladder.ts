import { mkdirSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { KilnError } from '../core/errors.js';
import { calibrationConfig } from '../quantize/calibrate/index.js';
import type { CalibrationSourceOptions } from '../quantize/data/index.js';
import { sessionConfigFor } from '../quantize/fusion-check.js';
import type { QuantScheme } from '../quantize/options.js';
import { compareModels, type CompareOptions, type ModelComparison } from './compare.js';
import { isImageFolderTree, openLabelledData } from './labelled-data.js';
import { openModelData, quantize, readInput } from './quantize.js';
import type { ModelData, ParsedModel, QuantizeMode, QuantizeProgress, QuantizeRunReport, StaticMode } from './types.js';

/** The rungs `kiln optimize` climbs, in order. */
export type RungId = 'fp32' | 'fp16' | 'dynamic' | 'static-minmax' | 'static-mse' | 'static-budget';

/**
 * The "static + budget" rung: static INT8 that keeps the most sensitive layers in float until an
 * accuracy budget holds. The search lives with the quantizer; the ladder only calls it, so this
 * is the whole contract. A ladder without one has no such rung (nothing is invented in its place).
 */
export interface BudgetRung {
  /** Shown in the table, e.g. "static + budget (≤ 0.5 pp)". */
  readonly label: string;
  /** Quantizes `input` to `output` within the budget, calibrating on `data`, starting from `base`. */
  readonly run: (input: ParsedModel, context: { readonly output: string; readonly data: ModelData; readonly base: StaticMode; readonly onProgress?: (progress: QuantizeProgress) => void }) => Promise<QuantizeRunReport>;
}

/** Options of {@link runLadder}. */
export interface LadderOptions {
  /** Evaluation data (an ImageFolder tree gives accuracy, anything else fidelity to FP32). */
  readonly data: { readonly path: string; readonly options?: CalibrationSourceOptions; readonly labels?: string };
  /** Calibration data for the static rungs. @defaultValue the evaluation data */
  readonly calibration?: { readonly path: string; readonly options?: CalibrationSourceOptions };
  /** Folder the rung models are written to (created). */
  readonly outDir: string;
  /** Replace rung models left by an earlier run. @defaultValue false */
  readonly force?: boolean;
  /** @defaultValue 'U8S8' */
  readonly scheme?: QuantScheme;
  readonly budget?: BudgetRung;
  /** Latency and evaluation settings of the final comparison. */
  readonly compare?: Omit<CompareOptions, 'data' | 'sessionConfigs' | 'onProgress'>;
  readonly onProgress?: (progress: { readonly rung: string; readonly phase: string; readonly done: number; readonly total: number | undefined }) => void;
}

/** One rung's outcome: its model and quantize run, or why it has none. */
export interface LadderRung {
  readonly id: RungId;
  readonly label: string;
  readonly path: string | undefined;
  readonly run: QuantizeRunReport | undefined;
  /** Why the rung produced no model (e.g. dynamic INT8 on a model without MatMul). */
  readonly skipped: string | undefined;
}

/** What {@link runLadder} produced: the rungs, and the comparison of the ones that have a model. */
export interface LadderResult {
  readonly rungs: readonly LadderRung[];
  readonly comparison: ModelComparison;
}

function staticMode(method: 'minmax' | 'mse', scheme: QuantScheme): StaticMode {
  return { kind: 'static', calibration: calibrationConfig(method), scheme, perChannel: true, reduceRange: false, excludeNodes: [], excludeOpTypes: [] };
}

/**
 * The speed-versus-accuracy ladder of one model: FP32, FP16, dynamic INT8, static INT8 with
 * MinMax and with MSE ranges (and static + budget when a {@link BudgetRung} is given), each
 * written to `outDir`, then all compared side by side on the data. The model is parsed once for
 * every rung. A rung that cannot apply (no MatMul for dynamic) is reported as skipped, and
 * unfused nodes are kept and shown in the fusion table rather than failing the ladder.
 */
export async function runLadder(modelPath: string, options: LadderOptions): Promise<LadderResult> {
  const parsed = readInput(modelPath);
  mkdirSync(options.outDir, { recursive: true });
  const scheme = options.scheme ?? 'U8S8';
  const stem = basename(modelPath, extname(modelPath));
  const calibrationData = options.calibration ?? options.data;
  // An ImageFolder tree calibrates through its images; the labels play no part in calibration.
  const data: ModelData = isImageFolderTree(calibrationData.path)
    ? { source: openLabelledData(calibrationData.path, { ...calibrationData.options, ...inputOption(calibrationData.options, parsed) }).source }
    : { path: calibrationData.path, ...(calibrationData.options ? { options: calibrationData.options } : {}) };
  const source = openModelData(data, parsed.model);
  const rungs: LadderRung[] = [{ id: 'fp32', label: 'FP32', path: modelPath, run: undefined, skipped: undefined }];
  const planned: { id: RungId; label: string; mode: QuantizeMode }[] = [
    { id: 'fp16', label: 'FP16', mode: { kind: 'fp16', excludeNodes: [], excludeOpTypes: [] } },
    { id: 'dynamic', label: 'dynamic INT8', mode: { kind: 'dynamic', perChannel: true, excludeNodes: [] } },
    { id: 'static-minmax', label: 'static MinMax', mode: staticMode('minmax', scheme) },
    { id: 'static-mse', label: 'static MSE', mode: staticMode('mse', scheme) },
  ];
  for (const rung of planned) {
    const output = join(options.outDir, `${stem}.${rung.id}.onnx`);
    const onProgress = (progress: QuantizeProgress) => options.onProgress?.({ rung: rung.label, ...progress });
    rungs.push(await attempt(rung.id, rung.label, output, () => quantize(parsed, { mode: rung.mode, output, force: options.force ?? false, data: { source }, allowUnfused: true, sqnrSamples: 0, onProgress })));
  }
  if (options.budget) {
    const budget = options.budget;
    const output = join(options.outDir, `${stem}.static-budget.onnx`);
    const onProgress = (progress: QuantizeProgress) => options.onProgress?.({ rung: budget.label, ...progress });
    rungs.push(await attempt('static-budget', budget.label, output, () => budget.run(parsed, { output, data: { source }, base: staticMode('mse', scheme), onProgress })));
  }
  const built = rungs.filter((rung) => rung.path !== undefined);
  const comparison = await compareModels(
    built.map((rung) => rung.path!),
    {
      ...options.compare,
      data: options.data,
      sessionConfigs: built.map((rung) => (rung.run?.mode === 'static' ? sessionConfigFor(scheme) : undefined)),
      onProgress: (progress) => options.onProgress?.({ rung: 'compare', ...progress }),
    },
  );
  return { rungs, comparison };
}

function inputOption(options: CalibrationSourceOptions | undefined, parsed: ParsedModel): CalibrationSourceOptions {
  if (options?.input) return {};
  const inputs = parsed.model.graph?.input.filter((input) => !parsed.model.graph!.initializer.some((init) => init.name === input.name)) ?? [];
  return inputs.length === 1 ? { input: inputs[0]!.name } : {};
}

async function attempt(id: RungId, label: string, output: string, run: () => Promise<QuantizeRunReport>): Promise<LadderRung> {
  try {
    const report = await run();
    return { id, label, path: output, run: report, skipped: undefined };
  } catch (error) {
    // A rung that does not apply is a finding of the ladder; a bad output folder is not.
    if (error instanceof KilnError && (error.code === 'KILN_CORE_INVALID_ARGUMENT' || error.code === 'KILN_QUANTIZE_NOT_FUSED')) {
      return { id, label, path: undefined, run: undefined, skipped: error.message };
    }
    throw error;
  }
}
