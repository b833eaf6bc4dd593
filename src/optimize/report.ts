import { basename } from 'node:path';
import { cpus } from 'node:os';
import { KILN_VERSION } from '../core/version.js';
import { REPORT_FORMAT, REPORT_VERSION, type ReportDocument, type ReportModel, type ReportQuantization } from '../evaluate/report/types.js';
import { runtimeVersion } from '../runtime/engine.js';
import type { ModelComparison } from './compare.js';
import type { CalibrationInfo, QuantizeRunReport } from './types.js';

/** The one-line description of how a run got its ranges. */
export function describeCalibration(calibration: CalibrationInfo): string {
  if ('fp16' in calibration) return 'none: FP16';
  if ('dynamic' in calibration) return 'none: dynamic INT8';
  if ('replayed' in calibration) return `ranges replayed from ${calibration.replayed}`;
  return `${calibration.method}, ${calibration.samples} samples`;
}

function quantization(report: QuantizeRunReport): ReportQuantization {
  return {
    mode: report.mode,
    calibration: describeCalibration(report.calibration),
    quantizedNodes: report.quantizedNodes.length,
    byOp: report.byOp,
    seconds: report.timing.totalMs / 1000,
  };
}

/** The report's view of one quantize run: layers, fusion and what was done. */
export function quantizedModelFields(report: QuantizeRunReport): Pick<ReportModel, 'layers' | 'fusion' | 'quantization'> {
  return {
    layers: [...report.weightSqnr].map(([name, sqnrDb]) => ({ name, sqnrDb })),
    ...(report.mode === 'fp16'
      ? {}
      : {
          fusion: {
            checked: report.fusion.outcomes.length,
            fused: report.fusion.fused,
            compute: report.fusion.compute,
            integerKernels: report.fusion.integerKernels,
            unfused: report.fusion.outcomes.filter((outcome) => !outcome.fused).map(({ name, opType, became }) => ({ name, opType, became })),
          },
        }),
    quantization: quantization(report),
  };
}

function environment(): ReportDocument['environment'] {
  return { cpu: cpus()[0]?.model.trim() ?? 'unknown', cores: cpus().length, onnxruntime: runtimeVersion(), kiln: KILN_VERSION };
}

/** What a report is about and who made it. */
export interface ReportHeader {
  readonly title: string;
  readonly command: string;
  /** Labels of the models, in order (default: file names). */
  readonly names?: readonly string[];
  /** The quantize run behind each model, where there was one. */
  readonly runs?: readonly (QuantizeRunReport | undefined)[];
  readonly notes?: readonly string[];
}

/** A comparison (with, per model, the quantize run that made it) as a report document. */
export function comparisonReport(comparison: ModelComparison, header: ReportHeader): ReportDocument {
  const models = comparison.models.map((model, index): ReportModel => {
    const run = header.runs?.[index];
    return {
      name: header.names?.[index] ?? basename(model.path),
      path: model.path,
      bytes: model.bytes,
      latency: model.latency.map(({ batch, p50Ms, p90Ms, samplesPerSecond }) => ({ batch, p50Ms, p90Ms, samplesPerSecond })),
      ...(model.accuracy ? { accuracy: model.accuracy } : {}),
      ...(model.fidelity
        ? { fidelity: Object.entries(model.fidelity).map(([output, fidelity]) => ({ output, sqnrDb: fidelity.sqnrDb, top1Agreement: fidelity.top1 && fidelity.top1.total > 0 ? fidelity.top1.agree / fidelity.top1.total : undefined })) }
        : {}),
      ...(run ? quantizedModelFields(run) : {}),
      ...(model.notes.length > 0 ? { notes: model.notes } : {}),
    };
  });
  return {
    format: REPORT_FORMAT,
    version: REPORT_VERSION,
    title: header.title,
    command: header.command,
    generated: new Date().toISOString(),
    environment: comparison.environment,
    ...(comparison.data ? { data: comparison.data } : {}),
    models,
    notes: [
      `Latency: ${comparison.iterations} timed runs per model and batch size after ${comparison.warmup} warm-up runs, interleaved round by round in one process; onnxruntime picks the threads.`,
      ...(header.notes ?? []),
    ],
  };
}

/**
 * The report of one `kiln quantize` run: the float model and the quantized one, with the
 * fusion table, per-layer weight SQNR and the SQNR per output; latency and the rest come from
 * `comparison` when the caller measured one.
 */
export function singleModelReport(report: QuantizeRunReport, comparison?: ModelComparison): ReportDocument {
  if (comparison) {
    return comparisonReport(comparison, { title: `kiln quantize: ${basename(report.input.path)}`, command: 'kiln quantize', names: ['FP32', report.mode === 'fp16' ? 'FP16' : `${report.mode} INT8`], runs: [undefined, report] });
  }
  const sqnr = report.sqnr ? Object.entries(report.sqnr).map(([output, sqnrDb]) => ({ output, sqnrDb, top1Agreement: undefined })) : undefined;
  return {
    format: REPORT_FORMAT,
    version: REPORT_VERSION,
    title: `kiln quantize: ${basename(report.input.path)}`,
    command: 'kiln quantize',
    generated: new Date().toISOString(),
    environment: environment(),
    models: [
      { name: 'FP32', path: report.input.path, bytes: report.input.bytes },
      { name: report.mode === 'fp16' ? 'FP16' : `${report.mode} INT8`, path: report.output.path, bytes: report.output.bytes, ...(sqnr ? { fidelity: sqnr } : {}), ...quantizedModelFields(report) },
    ],
    notes: ['Latency was not measured: compare the two models with kiln compare for it.'],
  };
}

/** The ladder of `kiln optimize` as a report: one row per rung that produced a model. */
export function ladderReport(modelPath: string, rungs: readonly { readonly label: string; readonly path: string | undefined; readonly run: QuantizeRunReport | undefined; readonly skipped: string | undefined }[], comparison: ModelComparison): ReportDocument {
  const built = rungs.filter((rung) => rung.path !== undefined);
  return comparisonReport(comparison, {
    title: `kiln optimize: ${basename(modelPath)}`,
    command: 'kiln optimize',
    names: built.map((rung) => rung.label),
    runs: built.map((rung) => rung.run),
    notes: rungs.filter((rung) => rung.skipped !== undefined).map((rung) => `${rung.label} skipped: ${rung.skipped}`),
  });
}
