import { Presets, SingleBar } from 'cli-progress';
import { KilnError } from '../../core/errors.js';
import { reportJsonPath, writeReport, type ReportDocument } from '../../evaluate/report/index.js';
import { compareModels } from '../../optimize/compare.js';
import { comparisonReport } from '../../optimize/report.js';
import { parseImagePreprocess, type CalibrationSourceOptions } from '../../quantize/data/index.js';
import { formatBytes, formatMs, table } from '../format.js';
import type { CliIO } from '../io.js';
import { parsePositiveInt } from '../options.js';

/** Flags shared by `kiln compare` and `kiln optimize`, resolved. */
export interface EvaluationFlags {
  readonly dataPath: string | undefined;
  readonly source: CalibrationSourceOptions;
  readonly labels: string | undefined;
  readonly samples: number | undefined;
  readonly iterations: number | undefined;
  readonly reportPath: string | undefined;
  readonly json: boolean;
}

/** Turns commander's flags into {@link EvaluationFlags} (validated once, here). */
export function evaluationFlags(flags: Readonly<Record<string, unknown>>): EvaluationFlags {
  const text = (key: string) => (typeof flags[key] === 'string' ? (flags[key] as string) : undefined);
  return {
    dataPath: text('data'),
    source: {
      ...(text('input') ? { input: text('input')! } : {}),
      ...(text('preprocess') ? { preprocess: parseImagePreprocess(text('preprocess')!) } : {}),
    },
    labels: text('labels'),
    samples: text('samples') === undefined ? undefined : parsePositiveInt('--samples', text('samples')!),
    iterations: text('iterations') === undefined ? undefined : parsePositiveInt('--iterations', text('iterations')!),
    reportPath: text('report'),
    json: Boolean(flags['json']),
  };
}

/** A progress bar on an interactive stderr for phases of `{ phase, done, total }` events. */
export function phaseBar(io: CliIO, json: boolean): { update: (label: string, done: number, total: number | undefined) => void; stop: () => void } {
  const bar = io.interactive && !json ? new SingleBar({ format: '{phase} [{bar}] {value}/{total}', clearOnComplete: true }, Presets.shades_classic) : undefined;
  let current: string | undefined;
  return {
    update(label, done, total) {
      if (label !== current) {
        bar?.stop();
        bar?.start(total ?? 0, 0, { phase: label });
        current = label;
      }
      if (total === undefined) bar?.setTotal(done);
      bar?.update(done, { phase: label });
    },
    stop: () => bar?.stop(),
  };
}

/** Renders a report document as the terminal table of `kiln compare` and `kiln optimize`. */
export function renderReportText(doc: ReportDocument): string {
  const first = doc.models[0];
  const p50 = (index: number, batch: number) => doc.models[index]?.latency?.find((entry) => entry.batch === batch)?.p50Ms;
  const accuracy = doc.data?.metric === 'accuracy';
  const rows = doc.models.map((model, index) => {
    const [b1, b8, base] = [p50(index, 1), p50(index, 8), p50(0, 1)];
    const quality = accuracy
      ? model.accuracy
        ? `${(100 * model.accuracy.top1).toFixed(1)}% / ${(100 * model.accuracy.top5).toFixed(1)}%`
        : '–'
      : index === 0
        ? 'reference'
        : (model.fidelity ?? [])
            .map((output) => `${Number.isFinite(output.sqnrDb) ? output.sqnrDb.toFixed(1) : '∞'} dB${output.top1Agreement === undefined ? '' : ` / ${(100 * output.top1Agreement).toFixed(1)}%`}`)
            .join(', ') || '–';
    return [
      model.name,
      formatBytes(model.bytes),
      first ? `${(model.bytes / first.bytes).toFixed(3)}×` : '',
      b1 === undefined ? '–' : formatMs(b1),
      b8 === undefined ? '–' : formatMs(b8),
      b1 === undefined || base === undefined ? '–' : `${(base / b1).toFixed(2)}×`,
      quality,
    ];
  });
  const lines = [`cpu    ${doc.environment.cpu} (${doc.environment.cores} cores), onnxruntime ${doc.environment.onnxruntime}; latency interleaved in one run`];
  if (doc.data) lines.push(`data   ${doc.data.path}: ${doc.data.samples} samples, ${accuracy ? 'labelled (top-1 / top-5 accuracy)' : 'unlabelled (SQNR vs the first model / top-1 agreement)'}`);
  lines.push('', table(['model', 'size', 'vs first', 'p50 ms b1', 'p50 ms b8', 'speed-up b1', accuracy ? 'top-1 / top-5' : 'SQNR / top-1 agree'], rows));
  const notes = [...doc.notes.slice(1), ...doc.models.flatMap((model) => (model.notes ?? []).map((note) => `${model.name}: ${note}`))];
  if (notes.length > 0) lines.push('', ...notes.map((note) => `note   ${note}`));
  return lines.join('\n');
}

/** Prints a report document (text or JSON) and writes the HTML page when asked. */
export function emitReport(doc: ReportDocument, flags: Pick<EvaluationFlags, 'json' | 'reportPath'>, io: CliIO): void {
  if (flags.reportPath) writeReport(flags.reportPath, doc);
  if (flags.json) {
    io.out(JSON.stringify(doc, null, 2));
    return;
  }
  io.out(renderReportText(doc));
  if (flags.reportPath) io.out(`\nreport ${flags.reportPath} (and ${reportJsonPath(flags.reportPath)})`);
}

/** `kiln compare A.onnx B.onnx [C…] --data DIR`: size, latency, fidelity or accuracy, side by side. */
export async function runCompare(models: readonly string[], flags: EvaluationFlags, io: CliIO): Promise<void> {
  if (models.length < 2) throw new KilnError('KILN_CLI_USAGE', 'kiln compare needs at least two models (the first is the reference)');
  const bar = phaseBar(io, flags.json);
  let comparison;
  try {
    comparison = await compareModels(models, {
      ...(flags.dataPath ? { data: { path: flags.dataPath, options: flags.source, ...(flags.labels ? { labels: flags.labels } : {}) } } : {}),
      ...(flags.samples !== undefined ? { samples: flags.samples } : {}),
      ...(flags.iterations !== undefined ? { iterations: flags.iterations } : {}),
      onProgress: ({ phase, done, total }) => bar.update(phase === 'evaluate' ? 'evaluating' : 'timing', done, total),
    });
  } finally {
    bar.stop();
  }
  emitReport(comparisonReport(comparison, { title: `kiln compare: ${models.length} models`, command: 'kiln compare' }), flags, io);
}
