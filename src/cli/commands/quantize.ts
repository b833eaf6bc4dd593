import { existsSync, rmSync, statSync } from 'node:fs';
import { SingleBar, Presets } from 'cli-progress';
import { commitTempFiles, checkReadableFile, writeTempSibling } from '../../core/fs.js';
import { KilnError } from '../../core/errors.js';
import { SqnrAccumulator } from '../../evaluate/fidelity.js';
import { GraphView } from '../../onnx/graph.js';
import type { ModelProto } from '../../onnx/gen/onnx_pb.js';
import { encodeModel, readModel } from '../../onnx/model-io.js';
import { Engine } from '../../runtime/engine.js';
import type { CalibrationConfig } from '../../quantize/calibrate/types.js';
import { loadRanges, saveRanges } from '../../quantize/calibrate/index.js';
import { openCalibrationSource, type CalibrationSourceOptions } from '../../quantize/data/index.js';
import type { CalibrationSource } from '../../quantize/data/types.js';
import { checkFusion, sessionConfigFor, type FusionReport } from '../../quantize/fusion-check.js';
import type { QuantScheme } from '../../quantize/options.js';
import { quantizeDynamic } from '../../quantize/dynamic.js';
import { convertToFloat16, type Float16Report } from '../../quantize/fp16.js';
import { quantizeModel, type QuantizedNode, type QuantizeReport, type QuantizeRunOptions } from '../../quantize/quantize-model.js';
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
}

/** What either mode hands to the fusion check and the summary. */
interface Quantized {
  readonly model: ModelProto;
  readonly calibration: QuantizeSummary['calibration'];
  readonly quantizedNodes: readonly QuantizedNode[];
  readonly absorbed: number;
  readonly weightSqnr: ReadonlyMap<string, number>;
  /** Static mode: the ranges, for --save-ranges. */
  readonly report?: QuantizeReport;
  readonly fp16?: Float16Report;
}

/**
 * `kiln quantize IN -o OUT --calib DATA`: static INT8 QDQ quantization with a fusion check, or
 * with `--mode dynamic` dynamic INT8, or with `--mode fp16` float16 (neither needs calibration;
 * `--calib` then only feeds the SQNR line).
 */
export async function runQuantize(input: string, config: QuantizeCommandConfig, io: CliIO): Promise<void> {
  checkReadableFile(input, 'model');
  const { model } = readModel(input);
  // Fail on an existing or unwritable output now, not after minutes of calibration.
  if (!config.force && existsSync(config.output)) {
    throw new KilnError('KILN_IO_OUTPUT_EXISTS', `${config.output} already exists: use --force to overwrite it`);
  }
  rmSync(writeTempSibling(config.output, []), { force: true });
  const ranges = config.rangesPath ? loadRanges(config.rangesPath).tensors : undefined;
  if (config.mode === 'static' && !ranges && !config.calibrationPath) {
    throw new KilnError('KILN_CLI_USAGE', 'kiln quantize needs --calib DATA (images, .npy files or a module) or --ranges FILE (or --mode dynamic, which needs neither)');
  }
  const source = config.calibrationPath ? openCalibrationSource(config.calibrationPath, withDefaultInput(config.source, model)) : undefined;
  const result =
    config.mode === 'dynamic' ? dynamicQuantize(model, config) : config.mode === 'fp16' ? await float16(model, config) : await staticQuantize(model, config, source, ranges, io);
  const bytes = encodeModel(result.model);
  const temp = writeTempSibling(config.output, [bytes]);
  let fusion: FusionReport;
  try {
    fusion = await checkFusion(temp, result.quantizedNodes, config.scheme);
    const unfused = fusion.outcomes.filter((outcome) => !outcome.fused);
    if (unfused.length > 0 && !config.allowUnfused) {
      const list = unfused.slice(0, 5).map((outcome) => `${outcome.name} (${outcome.opType} → ${outcome.became ?? 'removed'})`);
      throw new KilnError(
        'KILN_QUANTIZE_NOT_FUSED',
        `${unfused.length} of ${fusion.outcomes.length} quantized nodes did not become integer kernels in onnxruntime: ${list.join(', ')}${unfused.length > 5 ? ', …' : ''}; exclude them (--exclude-nodes) or pass --allow-unfused`,
        { details: { unfused } },
      );
    }
    commitTempFiles([[temp, config.output]]);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
  if (config.saveRangesPath && result.report) saveRanges(config.saveRangesPath, config.calibration.method, result.report.ranges);

  const sqnr = source && config.sqnrSamples > 0 ? await measureSqnr(input, config.output, source, config.sqnrSamples, config.scheme) : undefined;
  const summary = summarize(input, config, result, fusion, sqnr);
  if (config.json) io.out(JSON.stringify(summary, null, 2));
  else io.out(formatSummary(summary));
  const unfused = summary.fusion.unfused.length;
  if (unfused > 0) io.err(`kiln: warning: ${unfused} quantized nodes did not fuse (kept with --allow-unfused)`);
}

function dynamicQuantize(model: ModelProto, config: QuantizeCommandConfig): Quantized {
  const { model: quantized, report } = quantizeDynamic(model, { perChannel: config.perChannel, excludeNodes: config.excludeNodes });
  if (report.quantizedNodes.length === 0) {
    const why = report.skippedNodes.slice(0, 3).map((node) => `${node.name}: ${node.reason}`);
    throw new KilnError('KILN_CORE_INVALID_ARGUMENT', `dynamic quantization found no MatMul or Gemm with a constant float weight to quantize${why.length ? ` (${why.join('; ')})` : ''}`);
  }
  return { model: quantized, calibration: { dynamic: true }, quantizedNodes: report.quantizedNodes, absorbed: 0, weightSqnr: report.weightSqnr };
}

async function float16(model: ModelProto, config: QuantizeCommandConfig): Promise<Quantized> {
  const { model: converted, report } = await convertToFloat16(model, { blockNodes: config.excludeNodes, blockOps: config.excludeOpTypes });
  return { model: converted, calibration: { fp16: true }, quantizedNodes: [], absorbed: 0, weightSqnr: new Map(), fp16: report };
}

async function staticQuantize(
  model: ModelProto,
  config: QuantizeCommandConfig,
  source: CalibrationSource | undefined,
  ranges: QuantizeRunOptions['ranges'],
  io: CliIO,
): Promise<Quantized> {

  const bar = io.interactive && !config.json ? new SingleBar({ format: 'calibrating [{bar}] {value}/{total} samples', clearOnComplete: true }, Presets.shades_classic) : undefined;
  bar?.start(source?.count ?? 0, 0);
  let result: Awaited<ReturnType<typeof quantizeModel>>;
  try {
    result = await quantizeModel(model, ranges ? undefined : source, {
      calibration: config.calibration,
      scheme: config.scheme,
      perChannel: config.perChannel,
      reduceRange: config.reduceRange,
      excludeNodes: config.excludeNodes,
      excludeOpTypes: config.excludeOpTypes,
      ...(config.opTypes ? { opTypes: config.opTypes } : {}),
      ...(ranges ? { ranges } : {}),
      onProgress: (done, total) => {
        if (total === undefined) bar?.setTotal(done);
        bar?.update(done);
      },
    });
  } finally {
    bar?.stop();
  }
  const { report } = result;
  return {
    model: result.model,
    calibration: report.calibration ? { method: report.calibration.config.method, samples: report.calibration.samples } : { replayed: config.rangesPath ?? '' },
    quantizedNodes: report.quantizedNodes,
    absorbed: report.absorbed,
    weightSqnr: report.weightSqnr,
    report,
  };
}

/** Streams the first `limit` calibration samples through both models and accumulates SQNR per output. */
async function measureSqnr(
  floatPath: string,
  quantizedPath: string,
  source: CalibrationSource,
  limit: number,
  scheme: QuantScheme,
): Promise<Record<string, number>> {
  const reference = await Engine.load(floatPath, { label: floatPath });
  const quantized = await Engine.load(quantizedPath, { label: quantizedPath, sessionConfig: sessionConfigFor(scheme) });
  const accumulators = new Map<string, SqnrAccumulator>();
  try {
    let seen = 0;
    for await (const sample of source.samples()) {
      if (seen++ >= limit) break;
      const [expected, actual] = [await reference.run(sample), await quantized.run(sample)];
      for (const [name, tensor] of Object.entries(expected)) {
        if (tensor.type !== 'float32') continue;
        const accumulator = accumulators.get(name) ?? new SqnrAccumulator();
        accumulator.add(tensor.data as Float32Array, actual[name]!.data as Float32Array);
        accumulators.set(name, accumulator);
      }
    }
  } finally {
    await reference.release();
    await quantized.release();
  }
  return Object.fromEntries([...accumulators].map(([name, accumulator]) => [name, accumulator.db()]));
}

function summarize(
  input: string,
  config: QuantizeCommandConfig,
  report: Quantized,
  fusion: FusionReport,
  sqnr: Record<string, number> | undefined,
): QuantizeSummary {
  const inputBytes = statSync(input).size;
  const outputBytes = statSync(config.output).size;
  const byOp: Record<string, number> = {};
  for (const node of report.quantizedNodes) byOp[node.opType] = (byOp[node.opType] ?? 0) + 1;
  return {
    input: { path: input, bytes: inputBytes },
    output: { path: config.output, bytes: outputBytes },
    sizeRatio: outputBytes / inputBytes,
    calibration: report.calibration,
    quantizedNodes: report.quantizedNodes.length,
    byOp,
    absorbed: report.absorbed,
    worstWeight: worstWeight(report.weightSqnr),
    fusion: {
      compute: fusion.compute,
      fused: fusion.fused,
      checked: fusion.outcomes.length,
      unfused: fusion.outcomes.filter((outcome) => !outcome.fused).map(({ name, opType, became }) => ({ name, opType, became })),
      integerKernels: fusion.integerKernels,
    },
    sqnr,
    ...(report.fp16 ? { fp16: { ...report.fp16, blockedNodes: report.fp16.blockedNodes.length } } : {}),
  };
}

function worstWeight(sqnr: ReadonlyMap<string, number>): QuantizeSummary['worstWeight'] {
  let worst: QuantizeSummary['worstWeight'];
  for (const [name, sqnrDb] of sqnr) if (!worst || sqnrDb < worst.sqnrDb) worst = { name, sqnrDb };
  return worst;
}

function formatSummary(summary: QuantizeSummary): string {
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
    `model        ${summary.input.path} (${formatBytes(summary.input.bytes)})`,
    `quantized    ${summary.output.path} (${formatBytes(summary.output.bytes)}, ${summary.sizeRatio.toFixed(3)}× the size)`,
    `calibration  ${calibration}`,
    `nodes        ${summary.quantizedNodes} quantized, ${summary.absorbed} Relu/Clip absorbed`,
    `fused        ${summary.fusion.fused}/${summary.fusion.checked} nodes (${percent(summary.fusion.fused, summary.fusion.checked)}); ` +
      `Conv/MatMul/Gemm ${summary.fusion.compute.fused}/${summary.fusion.compute.asked} (${percent(summary.fusion.compute.fused, summary.fusion.compute.asked)})`,
  ];
  if (summary.worstWeight) lines.push(`weights      lowest SQNR ${summary.worstWeight.sqnrDb.toFixed(1)} dB (${summary.worstWeight.name})`);
  if (summary.sqnr) {
    for (const [name, db] of Object.entries(summary.sqnr)) lines.push(`SQNR         ${name}: ${db.toFixed(1)} dB (INT8 vs FP32 on calibration samples)`);
  }
  lines.push('', table(['op', 'quantized'], Object.entries(summary.byOp).sort().map(([op, count]) => [op, String(count)])));
  const kernels = Object.entries(summary.fusion.integerKernels).sort();
  if (kernels.length > 0) lines.push('', table(['integer kernel', 'count'], kernels.map(([op, count]) => [op, String(count)])));
  return lines.join('\n');
}

function formatFloat16(summary: QuantizeSummary, fp16: NonNullable<QuantizeSummary['fp16']>): string {
  const lines = [
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

/** Images and flat .npy folders feed one input: the model's only one unless --input names it. */
function withDefaultInput(options: CalibrationSourceOptions, model: ModelProto): CalibrationSourceOptions {
  if (options.input) return options;
  const inputs = new GraphView(model.graph!).feedInputs;
  return inputs.length === 1 ? { ...options, input: inputs[0]!.name } : options;
}
