/**
 * Workflow archives (`.war`, torch-workflow-archiver's format): a zip holding
 * `WAR-INF/MANIFEST.json`, the workflow spec, the handler whose functions can be DAG nodes, and
 * extra files, all at the root. Reading goes through the same safe extraction as model archives.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../core/errors.js';
import { resolveInside } from '../core/fs.js';
import { extractArchive, type ExtractedFormat, type ExtractLimits } from './extract.js';
import { packEntries, type ArchiveEntry } from './write.js';
import { checkWorkflowName, createWorkflowManifest, encodeWorkflowManifest, parseWorkflowManifest, WORKFLOW_MANIFEST_FILE, type WorkflowManifest } from './workflow-manifest.js';
import { parseWorkflowSpec, type WorkflowSpec } from './workflow-spec.js';

/** A workflow archive opened for serving: files on disk, manifest and spec parsed. */
export interface OpenedWorkflowArchive {
  readonly source: string;
  readonly format: ExtractedFormat;
  /** Folder holding the archive's files (a private temp dir, or the directory itself). */
  readonly dir: string;
  readonly files: readonly string[];
  readonly manifest: WorkflowManifest;
  readonly spec: WorkflowSpec;
  /** The handler's path inside the archive (its functions are the DAG's function nodes). */
  readonly handlerPath: string;
  /** Deletes the extracted files (a no-op for a directory archive). */
  remove(): Promise<void>;
}

/** Options for {@link openWorkflowArchive}. */
export interface OpenWorkflowOptions {
  readonly limits?: Partial<ExtractLimits>;
}

function fileInArchive(source: string, dir: string, name: string, what: string): string {
  const path = resolveInside(dir, name);
  if (!path) throw new KilnError('KILN_ARCHIVE_MANIFEST_INVALID', `${source}: the manifest's ${what} '${name}' points outside the archive`);
  if (!existsSync(path)) throw new KilnError('KILN_ARCHIVE_MANIFEST_INVALID', `${source}: the manifest names ${what} '${name}', which is not in the archive`);
  return path;
}

/**
 * Opens a `.war` (or a folder laid out like one) safely, then parses its manifest and spec. A
 * spec that does not parse, or whose DAG is not a DAG with one start node, is
 * `KILN_SERVE_WORKFLOW_INVALID`; on any failure the extracted files are removed first.
 */
export async function openWorkflowArchive(source: string, options: OpenWorkflowOptions = {}): Promise<OpenedWorkflowArchive> {
  const extracted = await extractArchive(source, options.limits ? { limits: options.limits } : {});
  try {
    const manifestPath = resolveInside(extracted.dir, WORKFLOW_MANIFEST_FILE);
    if (!manifestPath || !existsSync(manifestPath)) {
      throw new KilnError('KILN_ARCHIVE_MANIFEST_INVALID', `${source}: not a workflow archive (no ${WORKFLOW_MANIFEST_FILE})`);
    }
    const manifest = parseWorkflowManifest(readFileSync(manifestPath, 'utf8'), source);
    const specPath = fileInArchive(source, extracted.dir, manifest.workflow.specFile, 'spec file');
    const spec = parseWorkflowSpec(readFileSync(specPath, 'utf8'), manifest.workflow.specFile);
    const handlerPath = fileInArchive(source, extracted.dir, manifest.workflow.handler, 'handler');
    return {
      source,
      format: extracted.format,
      dir: extracted.dir,
      files: extracted.files,
      manifest,
      spec,
      handlerPath,
      remove: () => extracted.remove(),
    };
  } catch (error) {
    await extracted.remove();
    throw error;
  }
}

/** What {@link writeWorkflowArchive} needs; the CLI resolves flags into this. */
export interface WorkflowArchiveSpec {
  readonly workflowName: string;
  /** The spec file, stored at the root under `name`. */
  readonly spec: ArchiveEntry;
  /** The (bundled) handler, stored at the root under `name`. */
  readonly handler: ArchiveEntry;
  /** Further files for the archive root. */
  readonly extraEntries?: readonly ArchiveEntry[];
  readonly exportPath: string;
  readonly force: boolean;
}

/** Where a workflow archive was written. */
export interface WrittenWorkflowArchive {
  readonly path: string;
  readonly manifest: WorkflowManifest;
  readonly files: readonly string[];
}

/** The output path for a workflow name: `<exportPath>/<name>.war`. */
export function workflowArchivePath(exportPath: string, workflowName: string): string {
  return join(exportPath, `${workflowName}.war`);
}

/**
 * Writes `<exportPath>/<name>.war` (zip, deflate) atomically. It packages what it is given: the
 * spec is not parsed here (the CLI checks it first), so tests can build invalid workflows too.
 */
export async function writeWorkflowArchive(spec: WorkflowArchiveSpec): Promise<WrittenWorkflowArchive> {
  checkWorkflowName(spec.workflowName);
  const manifest = createWorkflowManifest({ workflowName: spec.workflowName, specFile: spec.spec.name, handler: spec.handler.name });
  const entries: ArchiveEntry[] = [
    { name: WORKFLOW_MANIFEST_FILE, source: { bytes: new TextEncoder().encode(encodeWorkflowManifest(manifest)) } },
    spec.spec,
    spec.handler,
    ...(spec.extraEntries ?? []),
  ];
  const path = workflowArchivePath(spec.exportPath, spec.workflowName);
  await packEntries(path, entries, { format: 'default', root: spec.workflowName, force: spec.force });
  return { path, manifest, files: entries.map((entry) => entry.name) };
}
