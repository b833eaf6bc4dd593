import { basename } from 'node:path';
import { statSync } from 'node:fs';
import { extraFileEntries, type ArchiveEntry } from '../../archive/write.js';
import { writeWorkflowArchive } from '../../archive/workflow-archive.js';
import { parseWorkflowSpec } from '../../archive/workflow-spec.js';
import { readFileChecked } from '../../core/fs.js';
import { formatBytes } from '../format.js';
import type { CliIO } from '../io.js';
import { bundledHandlerEntry } from '../../handlers/model-archive.js';

/** Flags of `kiln archive-workflow`, as torch-workflow-archiver names them. */
export interface ArchiveWorkflowFlags {
  readonly workflowName: string;
  readonly specFile: string;
  /** A .ts or .js file whose exported functions can be DAG nodes. */
  readonly handler: string;
  readonly extraFiles?: string;
  /** @defaultValue the working directory */
  readonly exportPath: string;
  readonly force: boolean;
}

/**
 * `kiln archive-workflow`: packages a workflow spec and its handler (bundled with esbuild as
 * model handlers are) into `<export-path>/<name>.war`. The spec is parsed first, so a spec
 * with a bad key, several start nodes or a cycle is refused here rather than at registration;
 * whether each function node exists in the handler is checked by the server.
 */
export async function runArchiveWorkflow(flags: ArchiveWorkflowFlags, io: CliIO): Promise<void> {
  const specText = readFileChecked(flags.specFile, 'spec file').toString('utf8');
  parseWorkflowSpec(specText, basename(flags.specFile));
  const handler = await bundledHandlerEntry(flags.handler);
  const extraEntries: ArchiveEntry[] = [];
  for (const item of (flags.extraFiles ?? '').split(',').map((s) => s.trim()).filter(Boolean)) extraEntries.push(...extraFileEntries(item));
  const written = await writeWorkflowArchive({
    workflowName: flags.workflowName,
    spec: { name: basename(flags.specFile), source: { path: flags.specFile } },
    handler,
    extraEntries,
    exportPath: flags.exportPath,
    force: flags.force,
  });
  io.out(`wrote ${written.path} (${formatBytes(statSync(written.path).size)}): ${written.files.length} files, spec ${written.manifest.workflow.specFile}, handler ${handler.name}`);
}
