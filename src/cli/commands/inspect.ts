import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readModel } from '../../onnx/model-io.js';
import { summarizeModel, type ModelSummary } from '../../onnx/summary.js';
import { Engine, runtimeVersion } from '../../runtime/engine.js';
import { formatBytes, formatCount, table } from '../format.js';
import type { CliIO } from '../io.js';

/** Flags of `kiln inspect`. */
export interface InspectOptions {
  readonly json?: boolean;
  /** Also load the model in onnxruntime to prove it runs. @defaultValue true */
  readonly runtime?: boolean;
}

/** The JSON document `kiln inspect --json` prints. */
export interface InspectReport extends ModelSummary {
  readonly file: string;
  readonly fileBytes: number;
  readonly externalBytes: number;
  /** onnxruntime's view, when checked: it loads, with these input names. */
  readonly runtime: { readonly onnxruntime: string; readonly loads: true } | null;
}

/** Builds the inspect report of a model file. */
export async function inspectModel(path: string, options: InspectOptions = {}): Promise<InspectReport> {
  const loaded = readModel(path);
  const summary = summarizeModel(loaded.model, loaded.externalFiles);
  let runtime: InspectReport['runtime'] = null;
  if (options.runtime ?? true) {
    const engine = await Engine.load(path, { graphOptimizationLevel: 'disabled', intraOpThreads: 1 });
    await engine.release();
    runtime = { onnxruntime: runtimeVersion(), loads: true };
  }
  const externalBytes = loaded.externalFiles.reduce((sum, file) => sum + statSync(join(dirname(path), file)).size, 0);
  return { file: path, fileBytes: loaded.fileBytes, externalBytes, ...summary, runtime };
}

function shapeText(shape: readonly (number | string | null)[] | null): string {
  return shape ? `[${shape.map((dim) => dim ?? '?').join(', ')}]` : '(unknown rank)';
}

/** Renders the report for a terminal. */
export function renderInspect(report: InspectReport): string {
  const opsets = report.opsets.map((opset) => `${opset.domain} ${opset.version}`).join(', ');
  const signature = (title: string, entries: InspectReport['inputs']) =>
    entries.map((entry, index) => `${index === 0 ? title : ''}\t${entry.name}  ${entry.type}  ${shapeText(entry.shape)}`);
  const lines = [
    `model      ${report.file} (${formatBytes(report.fileBytes)}${report.externalBytes ? ` + ${formatBytes(report.externalBytes)} external` : ''})`,
    `format     IR ${report.irVersion}, opset ${opsets}${report.producer ? `, from ${report.producer}` : ''}`,
    ...signature('inputs', report.inputs).map((line) => line.replace('\t', ' '.repeat(5))),
    ...signature('outputs', report.outputs).map((line) => line.replace('\t', ' '.repeat(4))),
    `params     ${formatCount(report.parameters)} in ${report.tensorCount} tensors`,
    `nodes      ${formatCount(report.nodeCount)}`,
    `external   ${report.externalDataFiles.length ? report.externalDataFiles.join(', ') : 'none'}`,
    `runtime    ${report.runtime ? `loads in onnxruntime ${report.runtime.onnxruntime}` : 'not checked'}`,
    '',
    table(
      ['tensor type', 'tensors', 'bytes'],
      report.bytesByType.map((entry) => [entry.type, String(entry.tensors), formatBytes(entry.bytes)]),
    ),
    '',
    table(
      ['op', 'count'],
      report.ops.map((entry) => [entry.op, String(entry.count)]),
    ),
  ];
  return lines.join('\n');
}

/** `kiln inspect MODEL`. */
export async function runInspect(path: string, options: InspectOptions, io: CliIO): Promise<void> {
  const report = await inspectModel(path, options);
  io.out(options.json ? JSON.stringify(report, null, 2) : renderInspect(report));
}
