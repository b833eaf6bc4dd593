import { z } from 'zod';
import { KilnError } from '../core/errors.js';
import { ARCHIVER_VERSION, checkName, formatCreatedOn, KILN_RUNTIME, MODEL_NAME_PATTERN, nameSchema } from './manifest.js';
import { describeIssue, issueList } from '../core/schema-errors.js';

/**
 * Folder and file of a workflow archive's manifest. torch-workflow-archiver writes `WAR-INF`
 * (not the model archive's `MAR-INF`), and TorchServe reads the manifest only from there.
 */
export const WAR_INF = 'WAR-INF';
export const WORKFLOW_MANIFEST_FILE = `${WAR_INF}/MANIFEST.json`;

/** Workflow names: the same pattern torch-workflow-archiver checks (and model names use). */
export const WORKFLOW_NAME_PATTERN = MODEL_NAME_PATTERN;

const WorkflowSection = z
  .object({
    workflowName: nameSchema('workflow name'),
    specFile: z.string().min(1),
    handler: z.string().min(1),
  })
  .loose();

// TorchServe refuses a workflow manifest without createdOn or archiverVersion, so kiln does too.
const WorkflowManifestSchema = z
  .object({
    createdOn: z.string().min(1),
    runtime: z.string().min(1).optional(),
    workflow: WorkflowSection,
    archiverVersion: z.string().min(1),
  })
  .loose();

/**
 * `WAR-INF/MANIFEST.json` with torch-workflow-archiver's field names. kiln adds `runtime`
 * (`typescript`), which TorchServe ignores; a manifest without it is TorchServe's own.
 */
export type WorkflowManifest = Readonly<z.infer<typeof WorkflowManifestSchema>>;

/** Fields for {@link createWorkflowManifest}. */
export interface WorkflowManifestInit {
  readonly workflowName: string;
  /** Base name of the spec file inside the archive. */
  readonly specFile: string;
  /** Base name of the (bundled) handler inside the archive. */
  readonly handler: string;
  /** @defaultValue now */
  readonly createdOn?: Date;
}

/** Checks a workflow name against torch-workflow-archiver's pattern and kiln's length limit. */
export function checkWorkflowName(name: string, source?: string): void {
  checkName('workflow name', name, source);
}

/** Builds a workflow manifest as kiln writes it (torch-workflow-archiver's fields plus `runtime`). */
export function createWorkflowManifest(init: WorkflowManifestInit): WorkflowManifest {
  checkWorkflowName(init.workflowName);
  return Object.freeze({
    createdOn: formatCreatedOn(init.createdOn ?? new Date()),
    runtime: KILN_RUNTIME,
    workflow: Object.freeze({ workflowName: init.workflowName, specFile: init.specFile, handler: init.handler }),
    archiverVersion: ARCHIVER_VERSION,
  });
}

/** Serializes a workflow manifest as the archiver does (2-space JSON). */
export function encodeWorkflowManifest(manifest: WorkflowManifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/** Parses and validates WAR-INF/MANIFEST.json text; `source` names the archive in errors. */
export function parseWorkflowManifest(text: string, source: string): WorkflowManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new KilnError('KILN_ARCHIVE_MANIFEST_INVALID', `${source}: ${WORKFLOW_MANIFEST_FILE} is not valid JSON`, { cause: error });
  }
  const result = WorkflowManifestSchema.safeParse(json);
  if (!result.success) {
    throw new KilnError('KILN_ARCHIVE_MANIFEST_INVALID', `${source}: ${WORKFLOW_MANIFEST_FILE}: ${describeIssue(result.error)}`, {
      details: { issues: issueList(result.error) },
    });
  }
  const manifest = result.data;
  return Object.freeze({ ...manifest, workflow: Object.freeze({ ...manifest.workflow }) });
}
