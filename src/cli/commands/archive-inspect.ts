/**
 * `kiln archive --inspect`: opens an archive as the server would (so every check the server makes
 * runs here too) and lists what is in it — a model archive's manifest, config and files, or a
 * workflow archive's models, DAG and files.
 */
import { existsSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { openArchive, type OpenedArchive } from '../../archive/read.js';
import { openWorkflowArchive, type OpenedWorkflowArchive } from '../../archive/workflow-archive.js';
import { WORKFLOW_MANIFEST_FILE } from '../../archive/workflow-manifest.js';
import { formatWorkflowDag, type WorkflowModelSpec } from '../../archive/workflow-spec.js';
import { formatBytes, table } from '../format.js';
import type { CliIO } from '../io.js';

function isWorkflowArchive(path: string): boolean {
  if (extname(path).toLowerCase() === '.war') return true;
  return existsSync(path) && statSync(path).isDirectory() && existsSync(join(path, WORKFLOW_MANIFEST_FILE));
}

/** The JSON document `kiln archive --inspect X --json` prints. */
export interface ArchiveReport {
  readonly archive: string;
  readonly format: OpenedArchive['format'];
  readonly manifest: OpenedArchive['manifest'];
  readonly files: readonly { readonly name: string; readonly bytes: number }[];
  readonly modelConfig: OpenedArchive['modelConfig'];
}

/**
 * `kiln archive --inspect X.mar`: validates an archive and lists what is in it. A workflow
 * archive (a `.war` file, or a folder with `WAR-INF/MANIFEST.json`) is inspected as a workflow.
 */
export async function runArchiveInspect(path: string, json: boolean, io: CliIO): Promise<void> {
  if (isWorkflowArchive(path)) {
    await runWorkflowArchiveInspect(path, json, io);
    return;
  }
  const archive = await openArchive(path);
  try {
    const report: ArchiveReport = {
      archive: path,
      format: archive.format,
      manifest: archive.manifest,
      files: archive.files.map((name) => ({ name, bytes: statSync(join(archive.dir, name)).size })),
      modelConfig: archive.modelConfig,
    };
    if (json) {
      io.out(JSON.stringify(report, null, 2));
      return;
    }
    const model = archive.manifest.model;
    io.out(
      [
        `archive   ${path} (${archive.format})`,
        `model     ${model.modelName} ${model.modelVersion}, handler ${model.handler}, runtime ${archive.manifest.runtime}`,
        `created   ${archive.manifest.createdOn ?? 'unknown'}${archive.manifest.archiverVersion ? ` by archiver ${archive.manifest.archiverVersion}` : ''}`,
        `onnx      ${model.serializedFile ?? 'none'}`,
        `config    ${model.configFile ? `${model.configFile}: ${JSON.stringify(archive.modelConfig.server)}` : 'none'}`,
        '',
        table(['file', 'bytes'], report.files.map((file) => [file.name, formatBytes(file.bytes)])),
      ].join('\n'),
    );
  } finally {
    await archive.remove();
  }
}

/** The JSON document `kiln archive --inspect X.war --json` prints. */
export interface WorkflowArchiveReport {
  readonly kind: 'workflow';
  readonly archive: string;
  readonly format: OpenedWorkflowArchive['format'];
  readonly manifest: OpenedWorkflowArchive['manifest'];
  readonly files: readonly { readonly name: string; readonly bytes: number }[];
  /** The spec's models by node name, with the settings each gets (the `models:` defaults applied). */
  readonly models: Record<string, WorkflowModelSpec>;
  /** The DAG: the start node, every node parents first, and the edges as the spec declares them. */
  readonly dag: { readonly start: string; readonly order: readonly string[]; readonly edges: Record<string, readonly string[]> };
}

/**
 * `kiln archive --inspect X.war`: opens a workflow archive as the server would (manifest, spec
 * and DAG checked) and lists its models, DAG and files.
 */
export async function runWorkflowArchiveInspect(path: string, json: boolean, io: CliIO): Promise<void> {
  const archive = await openWorkflowArchive(path);
  try {
    const { spec, manifest } = archive;
    const report: WorkflowArchiveReport = {
      kind: 'workflow',
      archive: path,
      format: archive.format,
      manifest,
      files: archive.files.map((name) => ({ name, bytes: statSync(join(archive.dir, name)).size })),
      models: Object.fromEntries(spec.models),
      dag: { start: spec.dag.start, order: spec.dag.order, edges: Object.fromEntries(spec.dag.declared) },
    };
    if (json) {
      io.out(JSON.stringify(report, null, 2));
      return;
    }
    const workflow = manifest.workflow;
    const models = [...spec.models].map(([node, model]) => [node, model.url, `${model.minWorkers}-${model.maxWorkers}`, String(model.batchSize), `${model.maxBatchDelay} ms`, String(model.retryAttempts), `${model.timeoutMs} ms`]);
    io.out(
      [
        `archive   ${path} (${archive.format})`,
        `workflow  ${workflow.workflowName}, handler ${workflow.handler}, runtime ${manifest.runtime ?? 'unknown (not written by kiln)'}`,
        `created   ${manifest.createdOn} by archiver ${manifest.archiverVersion}`,
        `spec      ${workflow.specFile}: start ${spec.dag.start}, ${spec.dag.order.length} nodes, ${spec.models.size} model${spec.models.size === 1 ? '' : 's'}`,
        `dag       ${formatWorkflowDag(spec.dag)}`,
        '',
        models.length > 0 ? table(['model node', 'url', 'workers', 'batch', 'max delay', 'retries', 'timeout'], models) : 'no model nodes (every node is a handler function)',
        '',
        table(['file', 'bytes'], report.files.map((file) => [file.name, formatBytes(file.bytes)])),
      ].join('\n'),
    );
  } finally {
    await archive.remove();
  }
}
