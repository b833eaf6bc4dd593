import { SingleBar, Presets } from 'cli-progress';
import { KilnError } from '../../core/errors.js';
import { reportJsonPath, writeReport } from '../../evaluate/report/index.js';
import { compareModels } from '../../optimize/compare.js';
import { quantize, readInput } from '../../optimize/quantize.js';
import { isArchivePath, quantizeArchive, type QuantizeArchiveReport } from '../../optimize/quantize-archive.js';
import { singleModelReport } from '../../optimize/report.js';
import type { AccuracyTarget, QuantizeMode, QuantizeOptions, QuantizeRunReport } from '../../optimize/types.js';
import type { AccuracyPassReport } from '../../quantize/accuracy-passes.js';
import type { AccuracyBudget } from '../../quantize/budget/index.js';
import type { CalibrationConfig } from '../../quantize/calibrate/types.js';
import type { CalibrationSourceOptions } from '../../quantize/data/index.js';
import type { Float16Report } from '../../quantize/fp16.js';
import { sessionConfigFor, type FusionReport } from '../../quantize/fusion-check.js';
import type { QuantScheme } from '../../quantize/options.js';
import { formatBytes, table } from '../format.js';
import type { CliIO } from '../io.js';

/** Flags of `kiln quantize`, resolved. */
export interface QuantizeCommandConfig {
  readonly output: string;
  /** Replace an existing output file (`--force`); without it an existing file is refused, as `kiln archive` does. */
  readonly force: boolean;
  /**
   * `static` (calibrated QDQ), `dynamic` (MatMul/Gemm weights int8, activations at run time) or
   * `fp16` (float16 weights and activations, float32 graph inputs and outputs).
   */
  readonly mode: 'static' | 'dynamic' | 'fp16';
  /** Calibration data: a folder of images or .npy files, or a module; not needed with `ranges`. */
  readonly calibrationPath: string | undefined;
  readonly source: CalibrationSourceOptions;
  readonly calibration: CalibrationConfig;
  readonly scheme: QuantScheme;
  readonly perChannel: boolean;
  readonly reduceRange: boolean;
  readonly excludeNodes: readonly string[];
  readonly excludeOpTypes: readonly string[];
  readonly opTypes: readonly string[] | undefined;
  /** Replay saved ranges instead of calibrating. */
  readonly rangesPath: string | undefined;
  readonly saveRangesPath: string | undefined;
  /** Warn instead of failing when a quantized node did not become an integer kernel. */
  readonly allowUnfused: boolean;
  /** Samples of the calibration set compared FP32 vs INT8 for the SQNR line. */
  readonly sqnrSamples: number;
  readonly json: boolean;
  /** `--equalize`: cross-layer equalization before calibration. */
  readonly equalize?: boolean;
  /** `--bias-correction`. */
  readonly biasCorrection?: boolean;
  /** `--max-drop PP` or `--min-sqnr DB`, measured on `--eval DIR`. */
  readonly budget?:
    | { readonly kind: 'max-drop'; readonly maxDropPp: number; readonly evalPath: string; readonly labels?: string }
    | { readonly kind: 'min-sqnr'; readonly minSqnrDb: number; readonly evalPath: string }
    | undefined;
  /** Also write the HTML report (and its JSON beside it) here. */
  readonly reportPath?: string | undefined;
}

/** The JSON document `kiln quantize --json` prints. */
export interface QuantizeSummary {
  readonly input: { readonly path: string; readonly bytes: number };
  readonly output: { readonly path: string; readonly bytes: number };
  readonly sizeRatio: number;
  readonly calibration: { readonly method: string; readonly samples: number } | { readonly replayed: string } | { readonly dynamic: true } | { readonly fp16: true };
  /** FP16 mode: what the conversion did. */
  readonly fp16?: Omit<Float16Report, 'blockedNodes'> & { readonly blockedNodes: number };
  readonly quantizedNodes: number;
  readonly byOp: Readonly<Record<string, number>>;
  readonly absorbed: number;
  /** The least faithful weight: SQNR (dB) of its int8 values against the float ones. */
  readonly worstWeight: { readonly name: string; readonly sqnrDb: number } | undefined;
  readonly fusion: {
    readonly compute: FusionReport['compute'];
    readonly fused: number;
    readonly checked: number;
    readonly unfused: readonly { readonly name: string; readonly opType: string; readonly became: string | undefined }[];
    readonly integerKernels: Readonly<Record<string, number>>;
  };
  /** SQNR (dB) of each model output, INT8 vs FP32, on the first calibration samples. */
  readonly sqnr: Readonly<Record<string, number>> | undefined;
  /** With --max-drop or --min-sqnr: the search's outcome. */
  readonly budget?: {
    readonly budget: AccuracyBudget;
    readonly baseline: number;
    readonly fullyQuantized: number;
    readonly final: number;
    readonly floatLayers: readonly { readonly name: string; readonly opType: string; readonly macs: number }[];
    readonly int8MacShare: number;
    readonly evaluations: { readonly metric: number; readonly variants: number };
    /** Leave-one-out score (dB of output SQNR bought back) per weighted layer, most sensitive first. */
    readonly sensitivity: readonly { readonly name: string; readonly score: number }[];
  };
  /** With --equalize or --bias-correction: what they changed. */
  readonly accuracyPasses?: AccuracyPassReport;
  /** For an archive input: the archives, the handler, and the model inside both. */
  readonly archive?: {
    readonly input: { readonly path: string; readonly bytes: number };
    readonly output: { readonly path: string; readonly bytes: number };
    readonly handler: string;
    readonly serializedFile: string;
    /** Calibration images were prepared by the archive's handler.image. */
    readonly handlerImage: boolean;
  };
}

/**
 * `kiln quantize IN -o OUT --calib DATA`: static INT8 QDQ quantization with a fusion check, or
 * with `--mode dynamic` dynamic INT8, or with `--mode fp16` float16 (neither needs calibration;
 * `--calib` then only feeds the SQNR line). The pipeline is the library's `quantize`; this layer
 * turns flags into its options, its progress into a bar and its report into text or JSON.
 */
export async function runQuantize(input: string, config: QuantizeCommandConfig, io: CliIO): Promise<void> {
  if (isArchivePath(input)) return runQuantizeArchive(input, config, io);
  if (config.mode === 'static' && !config.rangesPath && !config.calibrationPath) {
    // Read the model first, as before: a missing model is reported before a missing flag.
    readInput(input);
    throw new KilnError('KILN_CLI_USAGE', 'kiln quantize needs --calib DATA (images, .npy files or a module) or --ranges FILE (or --mode dynamic, which needs neither)');
  }
  const progress = progressBar(config, io);
  let report: QuantizeRunReport;
  try {
    report = await quantize(input, {
      mode: quantizeMode(config),
      output: config.output,
      force: config.force,
      ...(config.calibrationPath ? { data: { path: config.calibrationPath, options: config.source } } : {}),
      allowUnfused: config.allowUnfused,
      sqnrSamples: config.sqnrSamples,
      onProgress: progress.onProgress,
    });
  } finally {
    progress.stop();
  }
  const summary = quantizeSummary(report);
  if (config.json) io.out(JSON.stringify(summary, null, 2));
  else io.out(formatSummary(summary));
  if (config.reportPath) {
    // The report adds what the summary lacks: latency at batch 1 and 8, measured interleaved.
    const comparison = await compareModels([input, config.output], {
      ...(config.calibrationPath ? { data: { path: config.calibrationPath, options: config.source } } : {}),
      samples: Math.max(1, config.sqnrSamples),
      sessionConfigs: [undefined, config.mode === 'static' ? sessionConfigFor(config.scheme) : undefined],
    });
    writeReport(config.reportPath, singleModelReport(report, comparison));
    if (!config.json) io.out(`report       ${config.reportPath} (and ${reportJsonPath(config.reportPath)})`);
  }
  const unfused = summary.fusion.unfused.length;
  if (unfused > 0) io.err(`kiln: warning: ${unfused} quantized nodes did not fuse (kept with --allow-unfused)`);
}

/**
 * `kiln quantize ARCHIVE -o OUT.mar --calib DATA`: the model inside, calibrated through the
 * archive's own handler preprocessing, in a new archive (the library's `quantizeArchive`).
 */
async function runQuantizeArchive(input: string, config: QuantizeCommandConfig, io: CliIO): Promise<void> {
  if (config.reportPath) {
    throw new KilnError('KILN_CLI_USAGE', '--report compares two model files; for an archive, quantize the .onnx itself with --report, or run kiln compare on the models');
  }
  if (!/\.mar$/i.test(config.output)) throw new KilnError('KILN_CLI_USAGE', `${input} is a model archive: -o must name the new .mar, not ${config.output}`);
  if (config.mode === 'static' && !config.rangesPath && !config.calibrationPath) {
    throw new KilnError('KILN_CLI_USAGE', 'kiln quantize needs --calib DATA (images for an image handler, .npy files or a module otherwise) or --ranges FILE (or --mode dynamic, which needs neither)');
  }
  const progress = progressBar(config, io);
  let report: QuantizeArchiveReport;
  try {
    report = await quantizeArchive(input, {
      mode: quantizeMode(config),
      output: config.output,
      force: config.force,
      ...(config.calibrationPath ? { data: { path: config.calibrationPath, options: config.source } } : {}),
      allowUnfused: config.allowUnfused,
      sqnrSamples: config.sqnrSamples,
      onProgress: progress.onProgress,
    });
  } finally {
    progress.stop();
  }
  const summary = archiveSummary(report);
  if (config.json) io.out(JSON.stringify(summary, null, 2));
  else io.out(formatSummary(summary));
  const unfused = summary.fusion.unfused.length;
  if (unfused > 0) io.err(`kiln: warning: ${unfused} quantized nodes did not fuse (kept with --allow-unfused)`);
}

/** A progress bar on an interactive terminal (none with --json): one bar per phase. */
function progressBar(config: QuantizeCommandConfig, io: CliIO): { onProgress: NonNullable<QuantizeOptions['onProgress']>; stop(): void } {
  const bar = io.interactive && !config.json ? new SingleBar({ format: '{phase} [{bar}] {value}/{total} samples', clearOnComplete: true }, Presets.shades_classic) : undefined;
  let phase: string | undefined;
  return {
    onProgress: ({ phase: next, done, total }) => {
      const label = next === 'calibrate' ? 'calibrating' : 'measuring SQNR';
      if (label !== phase) {
        bar?.stop();
        bar?.start(total ?? 0, 0, { phase: label });
        phase = label;
      }
      if (total === undefined) bar?.setTotal(done);
      bar?.update(done, { phase: label });
    },
    stop: () => bar?.stop(),
  };
}

/** The summary of an archive run: the model lines name the model inside each archive. */
export function archiveSummary(report: QuantizeArchiveReport): QuantizeSummary {
  const inner = quantizeSummary(report.model);
  return {
    ...inner,
    input: { path: `${report.input.path}:${report.serializedFile}`, bytes: report.model.input.bytes },
    output: { path: `${report.output.path}:${report.serializedFile}`, bytes: report.model.output.bytes },
    archive: { input: report.input, output: report.output, handler: report.handler, serializedFile: report.serializedFile, handlerImage: report.preprocess !== undefined },
  };
}

/** The library's mode union from the resolved flags. */
export function quantizeMode(config: QuantizeCommandConfig): QuantizeMode {
  switch (config.mode) {
    case 'dynamic':
      return { kind: 'dynamic', perChannel: config.perChannel, excludeNodes: config.excludeNodes };
    case 'fp16':
      return { kind: 'fp16', excludeNodes: config.excludeNodes, excludeOpTypes: config.excludeOpTypes };
    case 'static':
      return {
        kind: 'static',
        calibration: config.rangesPath ? { replay: config.rangesPath } : config.calibration,
        scheme: config.scheme,
        perChannel: config.perChannel,
        reduceRange: config.reduceRange,
        excludeNodes: config.excludeNodes,
        excludeOpTypes: config.excludeOpTypes,
        ...(config.opTypes ? { opTypes: config.opTypes } : {}),
        ...(config.saveRangesPath ? { saveRanges: config.saveRangesPath } : {}),
        ...(config.equalize ? { equalize: true } : {}),
        ...(config.biasCorrection ? { biasCorrection: true } : {}),
        ...(config.budget ? { budget: budgetTarget(config.budget, config.source) } : {}),
      };
  }
}

/** The library's accuracy target from the budget flags; held-out images are prepared as the calibration ones. */
function budgetTarget(budget: NonNullable<QuantizeCommandConfig['budget']>, source: CalibrationSourceOptions): AccuracyTarget {
  const { limit: _limit, ...options } = source;
  return budget.kind === 'max-drop'
    ? { kind: 'max-drop', maxDropPp: budget.maxDropPp, heldOut: budget.evalPath, options, ...(budget.labels ? { labels: budget.labels } : {}) }
    : { kind: 'min-sqnr', minSqnrDb: budget.minSqnrDb, heldOut: { path: budget.evalPath, options } };
}

/** The `--json` document: the library report, in the shape the CLI has always printed. */
export function quantizeSummary(report: QuantizeRunReport): QuantizeSummary {
  return {
    input: report.input,
    output: report.output,
    sizeRatio: report.sizeRatio,
    calibration: report.calibration,
    quantizedNodes: report.quantizedNodes.length,
    byOp: report.byOp,
    absorbed: report.absorbed,
    worstWeight: report.worstWeight,
    fusion: {
      compute: report.fusion.compute,
      fused: report.fusion.fused,
      checked: report.fusion.outcomes.length,
      unfused: report.fusion.outcomes.filter((outcome) => !outcome.fused).map(({ name, opType, became }) => ({ name, opType, became })),
      integerKernels: report.fusion.integerKernels,
    },
    sqnr: report.sqnr,
    ...(report.fp16 ? { fp16: { ...report.fp16, blockedNodes: report.fp16.blockedNodes.length } } : {}),
    ...(report.budget ? { budget: budgetSummary(report.budget) } : {}),
    ...(report.accuracyPasses ? { accuracyPasses: report.accuracyPasses } : {}),
  };
}

function budgetSummary(budget: NonNullable<QuantizeRunReport['budget']>): NonNullable<QuantizeSummary['budget']> {
  return {
    budget: budget.budget,
    baseline: budget.baseline,
    fullyQuantized: budget.fullyQuantizedMetric,
    final: budget.finalMetric,
    floatLayers: budget.floatLayers.map(({ name, opType, macs }) => ({ name, opType, macs })),
    int8MacShare: budget.int8MacShare,
    evaluations: budget.evaluations,
    sensitivity: (budget.sensitivity?.layers ?? []).map(({ name, score }) => ({ name, score })),
  };
}

/** The text `kiln quantize` prints for a summary. */
export function formatSummary(summary: QuantizeSummary): string {
  const percent = (part: number, whole: number) => (whole === 0 ? '–' : `${((100 * part) / whole).toFixed(1)}%`);
  if (summary.fp16) return formatFloat16(summary, summary.fp16);
  const calibration =
    'fp16' in summary.calibration
      ? 'none: FP16'
      : 'dynamic' in summary.calibration
      ? 'none: dynamic INT8 (activations quantized at run time; MatMul/Gemm weights int8)'
      : 'replayed' in summary.calibration
        ? `ranges replayed from ${summary.calibration.replayed}`
        : `${summary.calibration.method}, ${summary.calibration.samples} samples`;
  const lines = [
    ...archiveLines(summary),
    `model        ${summary.input.path} (${formatBytes(summary.input.bytes)})`,
    `quantized    ${summary.output.path} (${formatBytes(summary.output.bytes)}, ${summary.sizeRatio.toFixed(3)}× the size)`,
    `calibration  ${calibration}`,
    `nodes        ${summary.quantizedNodes} quantized, ${summary.absorbed} Relu/Clip absorbed`,
    `fused        ${summary.fusion.fused}/${summary.fusion.checked} nodes (${percent(summary.fusion.fused, summary.fusion.checked)}); ` +
      `Conv/MatMul/Gemm ${summary.fusion.compute.fused}/${summary.fusion.compute.asked} (${percent(summary.fusion.compute.fused, summary.fusion.compute.asked)})`,
  ];
  if (summary.accuracyPasses) {
    lines.push(`passes       ${summary.accuracyPasses.equalizedPairs} Conv pairs equalized, ${summary.accuracyPasses.correctedBiases} biases corrected`);
  }
  if (summary.budget) lines.push(...formatBudget(summary.budget));
  if (summary.worstWeight) lines.push(`weights      lowest SQNR ${summary.worstWeight.sqnrDb.toFixed(1)} dB (${summary.worstWeight.name})`);
  if (summary.sqnr) {
    for (const [name, db] of Object.entries(summary.sqnr)) lines.push(`SQNR         ${name}: ${db.toFixed(1)} dB (INT8 vs FP32 on calibration samples)`);
  }
  lines.push('', table(['op', 'quantized'], Object.entries(summary.byOp).sort().map(([op, count]) => [op, String(count)])));
  const kernels = Object.entries(summary.fusion.integerKernels).sort();
  if (kernels.length > 0) lines.push('', table(['integer kernel', 'count'], kernels.map(([op, count]) => [op, String(count)])));
  return lines.join('\n');
}

/** The line naming both archives, for an archive input. */
function archiveLines(summary: QuantizeSummary): string[] {
  const archive = summary.archive;
  if (!archive) return [];
  return [
    `archive      ${archive.input.path} (${formatBytes(archive.input.bytes)}) → ${archive.output.path} (${formatBytes(archive.output.bytes)}); ` +
      `handler ${archive.handler}${archive.handlerImage ? ', calibration images prepared by its handler.image' : ''}; every other file copied unchanged`,
  ];
}

function formatFloat16(summary: QuantizeSummary, fp16: NonNullable<QuantizeSummary['fp16']>): string {
  const lines = [
    ...archiveLines(summary),
    `model        ${summary.input.path} (${formatBytes(summary.input.bytes)})`,
    `float16      ${summary.output.path} (${formatBytes(summary.output.bytes)}, ${summary.sizeRatio.toFixed(3)}× the size)`,
    `converted    ${fp16.convertedInitializers} weights; ${fp16.clampedValues} values clamped into float16's range; graph inputs and outputs stay float32`,
    `float32      ${fp16.floatNodes} nodes kept (block list), ${fp16.castsInserted} Casts inserted`,
  ];
  if (summary.sqnr) {
    for (const [name, db] of Object.entries(summary.sqnr)) lines.push(`SQNR         ${name}: ${db.toFixed(1)} dB (FP16 vs FP32 on calibration samples)`);
  }
  lines.push('             on the CPU provider float16 runs through inserted casts and is usually slower than FP32: the gain is size, and speed on GPUs');
  return lines.join('\n');
}

function formatBudget(budget: NonNullable<QuantizeSummary['budget']>): string[] {
  const pp = budget.budget.kind === 'max-drop';
  const unit = (value: number) => (pp ? `${value.toFixed(2)}%` : Number.isFinite(value) ? `${value.toFixed(1)} dB` : '∞ dB');
  const asked = budget.budget.kind === 'max-drop' ? `top-1 drop ≤ ${budget.budget.maxDrop} pp` : `output SQNR ≥ ${budget.budget.min} dB`;
  const names = budget.floatLayers.slice(0, 6).map((layer) => `${layer.name} (${layer.opType})`);
  return [
    `budget       ${asked}: FP32 ${unit(budget.baseline)}, fully INT8 ${unit(budget.fullyQuantized)}, this model ${unit(budget.final)}`,
    `float        ${budget.floatLayers.length} layers kept float${names.length ? `: ${names.join(', ')}${budget.floatLayers.length > names.length ? ', …' : ''}` : ''}; ` +
      `${(100 * budget.int8MacShare).toFixed(1)}% of MACs in INT8 (${budget.evaluations.metric} evaluations, ${budget.evaluations.variants} variants)`,
  ];
}
