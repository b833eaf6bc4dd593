import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { KilnError } from '../core/errors.js';
import { checkReadableFile, commitTempFiles, writeTempSibling } from '../core/fs.js';
import { measureFidelity } from '../evaluate/model-fidelity.js';
import { GraphView } from '../onnx/graph.js';
import type { ModelProto } from '../onnx/gen/onnx_pb.js';
import { encodeModel, readModel, writeModel } from '../onnx/model-io.js';
import { foldImagePreprocess, unfoldImagePreprocess } from '../onnx/passes/fold-image-preprocess.js';
import { loadRanges, saveRanges } from '../quantize/calibrate/index.js';
import { openCalibrationSource, type CalibrationSourceOptions } from '../quantize/data/index.js';
import type { CalibrationSource } from '../quantize/data/types.js';
import { quantizeDynamic } from '../quantize/dynamic.js';
import { convertToFloat16 } from '../quantize/fp16.js';
import { checkFusion, sessionConfigFor, type FusionReport } from '../quantize/fusion-check.js';
import type { QuantScheme } from '../quantize/options.js';
import { quantizeModel, type QuantizeReport, type QuantizeRunOptions } from '../quantize/quantize-model.js';
import { staticWithAccuracy, wantsAccuracyWork } from './accuracy.js';
import { Engine } from '../runtime/engine.js';
import type { CalibrationInfo, ModelData, ParsedModel, QuantizeMode, QuantizeOptions, QuantizeRunReport, StaticMode } from './types.js';

/** Samples compared FP32 vs quantized for the SQNR per output. */
export const QUANTIZE_PIPELINE_DEFAULTS = Object.freeze({ sqnrSamples: 32 });

/** What one mode's rewrite hands to the fusion check and the report. */
interface Rewritten {
  readonly model: ModelProto;
  readonly calibration: CalibrationInfo;
  readonly quantizedNodes: QuantizeRunReport['quantizedNodes'];
  readonly skippedNodes: QuantizeRunReport['skippedNodes'];
  readonly absorbed: number;
  readonly weightSqnr: ReadonlyMap<string, number>;
  readonly staticReport?: QuantizeReport;
  readonly fp16?: QuantizeRunReport['fp16'];
  readonly budget?: QuantizeRunReport['budget'];
  readonly accuracyPasses?: QuantizeRunReport['accuracyPasses'];
}

/**
 * Quantizes one ONNX model and reports what happened: static INT8 (QDQ, calibrated or replayed
 * ranges), dynamic INT8 or FP16, then the fusion check (every quantized node must become an
 * integer kernel in onnxruntime, unless `allowUnfused`), then the SQNR of each output against
 * FP32 on the data. The model is parsed once (pass a {@link ParsedModel} to share one parse
 * across runs); the output is written once, and only after the fusion check passed.
 * @throws KilnError `KILN_IO_OUTPUT_EXISTS` (without `force`), `KILN_QUANTIZE_NOT_FUSED`, and the
 *   quantizer's and the data source's own errors; no output file is left behind on failure.
 * @example
 * const report = await quantize('model.onnx', {
 *   mode: { kind: 'dynamic', perChannel: true, excludeNodes: [] },
 *   output: 'model.int8.onnx',
 * });
 */
export async function quantize(input: string | ParsedModel, options: QuantizeOptions): Promise<QuantizeRunReport> {
  const started = performance.now();
  const parsed = typeof input === 'string' ? readInput(input) : input;
  const unfolded = unfoldImagePreprocess(parsed.model);
  if (unfolded) return quantizeUnfolded(parsed, unfolded, options);
  const readMs = performance.now() - started;
  // Fail on an existing or unwritable output now, not after minutes of calibration.
  if (!options.force && existsSync(options.output)) {
    throw new KilnError('KILN_IO_OUTPUT_EXISTS', `${options.output} already exists: use --force to overwrite it`);
  }
  rmSync(writeTempSibling(options.output, []), { force: true });
  const { mode } = options;
  const saved = mode.kind === 'static' && 'replay' in mode.calibration ? loadRanges(mode.calibration.replay) : undefined;
  const ranges = saved?.tensors;
  const source = options.data ? openModelData(options.data, parsed.model) : undefined;

  const quantizeStarted = performance.now();
  const rewritten =
    mode.kind === 'dynamic' ? dynamic(parsed.model, mode) : mode.kind === 'fp16' ? await float16(parsed.model, mode) : await staticInt8(parsed.model, mode, source, ranges, options);
  const quantizeMs = performance.now() - quantizeStarted;

  const writeStarted = performance.now();
  const temp = writeTempSibling(options.output, [encodeModel(rewritten.model)]);
  const writeMs = performance.now() - writeStarted;
  const scheme: QuantScheme = mode.kind === 'static' ? mode.scheme : 'U8S8';
  const fusionStarted = performance.now();
  let fusion: FusionReport;
  try {
    fusion = await checkFusion(temp, rewritten.quantizedNodes, scheme);
    const unfused = fusion.outcomes.filter((outcome) => !outcome.fused);
    if (unfused.length > 0 && !options.allowUnfused) {
      const list = unfused.slice(0, 5).map((outcome) => `${outcome.name} (${outcome.opType} → ${outcome.became ?? 'removed'})`);
      throw new KilnError(
        'KILN_QUANTIZE_NOT_FUSED',
        `${unfused.length} of ${fusion.outcomes.length} quantized nodes did not become integer kernels in onnxruntime: ${list.join(', ')}${unfused.length > 5 ? ', …' : ''}; exclude them (--exclude-nodes) or pass --allow-unfused`,
        { details: { unfused } },
      );
    }
    commitTempFiles([[temp, options.output]]);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
  const fusionCheckMs = performance.now() - fusionStarted;
  if (mode.kind === 'static' && mode.saveRanges && rewritten.staticReport) {
    const method = 'replay' in mode.calibration ? (saved?.method ?? 'mse') : mode.calibration.method;
    saveRanges(mode.saveRanges, method, rewritten.staticReport.ranges);
  }

  const sqnrStarted = performance.now();
  const limit = options.sqnrSamples ?? QUANTIZE_PIPELINE_DEFAULTS.sqnrSamples;
  const sqnr = source && limit > 0 ? await outputSqnr(parsed.path, options.output, source, limit, scheme, options.onProgress) : undefined;
  const sqnrMs = performance.now() - sqnrStarted;

  const inputBytes = statSync(parsed.path).size;
  const outputBytes = statSync(options.output).size;
  const byOp: Record<string, number> = {};
  for (const node of rewritten.quantizedNodes) byOp[node.opType] = (byOp[node.opType] ?? 0) + 1;
  return {
    mode: mode.kind,
    input: { path: parsed.path, bytes: inputBytes },
    output: { path: options.output, bytes: outputBytes },
    sizeRatio: outputBytes / inputBytes,
    calibration: rewritten.calibration,
    quantizedNodes: rewritten.quantizedNodes,
    skippedNodes: rewritten.skippedNodes,
    byOp,
    absorbed: rewritten.absorbed,
    weightSqnr: rewritten.weightSqnr,
    worstWeight: worstWeight(rewritten.weightSqnr),
    fusion,
    sqnr,
    ...(rewritten.fp16 ? { fp16: rewritten.fp16 } : {}),
    ...(rewritten.budget ? { budget: rewritten.budget } : {}),
    ...(rewritten.accuracyPasses ? { accuracyPasses: rewritten.accuracyPasses } : {}),
    ...(rewritten.staticReport ? { passes: rewritten.staticReport.passes.map(({ name, changes }) => ({ name, changes })) } : {}),
    timing: { readMs, quantizeMs, writeMs, fusionCheckMs, sqnrMs, totalMs: performance.now() - started },
  };
}

/**
 * A model with kiln's image preprocessing folded in (uint8 pixels in; `kiln archive`'s default)
 * is quantized as the float model it was folded from: calibration, SQNR and budgets run on float
 * tensors that the same description prepares, and the result is folded again with the same
 * description. The report names the files the caller gave.
 */
async function quantizeUnfolded(parsed: ParsedModel, unfolded: NonNullable<ReturnType<typeof unfoldImagePreprocess>>, options: QuantizeOptions): Promise<QuantizeRunReport> {
  if (!options.force && existsSync(options.output)) {
    throw new KilnError('KILN_IO_OUTPUT_EXISTS', `${options.output} already exists: use --force to overwrite it`);
  }
  const given = options.data && 'path' in options.data ? options.data.options?.preprocess : undefined;
  const folded = unfolded.options;
  if (given && (given.layout !== folded.layout || given.channelOrder !== folded.channelOrder || given.scale !== folded.scale || !sameNumbers(given.mean, folded.mean) || !sameNumbers(given.std, folded.std))) {
    throw new KilnError(
      'KILN_QUANTIZE_CALIBRATION_INVALID',
      `${parsed.path} has its image preprocessing folded in (${folded.layout}, ${folded.channelOrder}, scale ${folded.scale}, mean ${folded.mean.join(',')}, std ${folded.std.join(',')}); the calibration description differs: calibrate with the one it was folded with`,
    );
  }
  const work = mkdtempSync(join(tmpdir(), 'kiln-quantize-folded-'));
  try {
    const floatPath = join(work, basename(parsed.path));
    writeModel(unfolded.model, floatPath);
    const quantizedPath = join(work, `quantized-${basename(options.output)}`);
    const report = await quantize({ path: floatPath, model: unfolded.model }, { ...options, output: quantizedPath, force: true });
    writeModel(foldImagePreprocess(readModel(quantizedPath).model, folded).model, options.output);
    const inputBytes = statSync(parsed.path).size;
    const outputBytes = statSync(options.output).size;
    return { ...report, input: { path: parsed.path, bytes: inputBytes }, output: { path: options.output, bytes: outputBytes }, sizeRatio: outputBytes / inputBytes };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}

/** Reads a model file once, with the checks every entry point makes. */
export function readInput(path: string): ParsedModel {
  checkReadableFile(path, 'model');
  return { path, model: readModel(path).model };
}

/**
 * Opens data for a model: images and flat `.npy` folders feed one input, the model's only
 * one unless `options.input` names it.
 */
export function openModelData(data: ModelData, model: ModelProto): CalibrationSource {
  if ('source' in data) return data.source;
  return openCalibrationSource(data.path, withDefaultInput(data.options ?? {}, model));
}

function withDefaultInput(options: CalibrationSourceOptions, model: ModelProto): CalibrationSourceOptions {
  if (options.input) return options;
  const inputs = new GraphView(model.graph!).feedInputs;
  return inputs.length === 1 ? { ...options, input: inputs[0]!.name } : options;
}

function dynamic(model: ModelProto, mode: Extract<QuantizeMode, { kind: 'dynamic' }>): Rewritten {
  const { model: quantized, report } = quantizeDynamic(model, { perChannel: mode.perChannel, excludeNodes: mode.excludeNodes });
  if (report.quantizedNodes.length === 0) {
    const why = report.skippedNodes.slice(0, 3).map((node) => `${node.name}: ${node.reason}`);
    throw new KilnError('KILN_CORE_INVALID_ARGUMENT', `dynamic quantization found no MatMul or Gemm with a constant float weight to quantize${why.length ? ` (${why.join('; ')})` : ''}`);
  }
  return { model: quantized, calibration: { dynamic: true }, quantizedNodes: report.quantizedNodes, skippedNodes: report.skippedNodes, absorbed: 0, weightSqnr: report.weightSqnr };
}

async function float16(model: ModelProto, mode: Extract<QuantizeMode, { kind: 'fp16' }>): Promise<Rewritten> {
  const { model: converted, report } = await convertToFloat16(model, { blockNodes: mode.excludeNodes, blockOps: mode.excludeOpTypes });
  return { model: converted, calibration: { fp16: true }, quantizedNodes: [], skippedNodes: [], absorbed: 0, weightSqnr: new Map(), fp16: report };
}

async function staticInt8(
  model: ModelProto,
  mode: StaticMode,
  source: CalibrationSource | undefined,
  ranges: ReturnType<typeof loadRanges>['tensors'] | undefined,
  options: QuantizeOptions,
): Promise<Rewritten> {
  const replay = 'replay' in mode.calibration ? mode.calibration.replay : undefined;
  const run = wantsAccuracyWork(mode) ? (runModel: ModelProto, runSource: CalibrationSource | undefined, runOptions: QuantizeRunOptions) => staticWithAccuracy(runModel, mode, runSource, runOptions, (data) => openModelData(data, model)) : quantizeModel;
  const { model: quantized, report, ...accuracy } = await run(model, ranges ? undefined : source, {
    ...(replay === undefined ? { calibration: mode.calibration as Exclude<StaticMode['calibration'], { replay: string }> } : {}),
    scheme: mode.scheme,
    perChannel: mode.perChannel,
    reduceRange: mode.reduceRange,
    excludeNodes: mode.excludeNodes,
    excludeOpTypes: mode.excludeOpTypes,
    ...(mode.opTypes ? { opTypes: mode.opTypes } : {}),
    ...(ranges ? { ranges } : {}),
    ...(options.intraOpThreads !== undefined ? { intraOpThreads: options.intraOpThreads } : {}),
    onProgress: (done, total) => options.onProgress?.({ phase: 'calibrate', done, total }),
  });
  return {
    model: quantized,
    calibration: report.calibration ? { method: report.calibration.config.method, samples: report.calibration.samples } : { replayed: replay ?? '' },
    quantizedNodes: report.quantizedNodes,
    skippedNodes: report.skippedNodes,
    absorbed: report.absorbed,
    weightSqnr: report.weightSqnr,
    staticReport: report,
    ...('budget' in accuracy && accuracy.budget ? { budget: accuracy.budget } : {}),
    ...('passes' in accuracy && accuracy.passes ? { accuracyPasses: accuracy.passes } : {}),
  };
}

/** SQNR of each float output, quantized vs FP32, on the first `limit` samples. */
async function outputSqnr(
  floatPath: string,
  quantizedPath: string,
  source: CalibrationSource,
  limit: number,
  scheme: QuantScheme,
  onProgress: QuantizeOptions['onProgress'],
): Promise<Record<string, number>> {
  const reference = await Engine.load(floatPath, { label: floatPath });
  try {
    const quantized = await Engine.load(quantizedPath, { label: quantizedPath, sessionConfig: sessionConfigFor(scheme) });
    try {
      const total = source.count === undefined ? limit : Math.min(limit, source.count);
      const { models } = await measureFidelity(reference, [quantized], source.samples(), limit, (done) => onProgress?.({ phase: 'sqnr', done, total }));
      return Object.fromEntries(Object.entries(models[0]!).map(([name, fidelity]) => [name, fidelity.sqnrDb]));
    } finally {
      await quantized.release();
    }
  } finally {
    await reference.release();
  }
}

function worstWeight(sqnr: ReadonlyMap<string, number>): QuantizeRunReport['worstWeight'] {
  let worst: QuantizeRunReport['worstWeight'];
  for (const [name, sqnrDb] of sqnr) if (!worst || sqnrDb < worst.sqnrDb) worst = { name, sqnrDb };
  return worst;
}
