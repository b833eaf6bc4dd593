import { z } from 'zod';
import { KilnError } from '../core/errors.js';
import { NAME_PATTERN, nameProblem, type NameKind } from '../core/names.js';
import { KILN_VERSION } from '../core/version.js';
import { describeIssue, issueList } from '../core/schema-errors.js';

/** Folder and file of the manifest inside an archive (TorchServe's layout). */
export const MAR_INF = 'MAR-INF';
export const MANIFEST_FILE = `${MAR_INF}/MANIFEST.json`;

/**
 * The `runtime` value kiln writes: the handler is a JavaScript module (bundled from TypeScript).
 * TorchServe writes `python`; kiln refuses those archives with a clear message.
 */
export const KILN_RUNTIME = 'typescript';

/** The archiver version kiln writes in manifests. */
export const ARCHIVER_VERSION = KILN_VERSION;

/** Model names TorchServe's archiver accepts (length is bounded too: see core/names). */
export const MODEL_NAME_PATTERN = NAME_PATTERN;

/** A zod string that must be an allowed name of `kind` (pattern and length). */
export const nameSchema = (kind: NameKind) =>
  z.string().superRefine((value, ctx) => {
    const problem = nameProblem(kind, value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem.length > 200 ? `${problem.slice(0, 197)}...` : problem });
  });

const ModelSection = z
  .object({
    modelName: nameSchema('model name'),
    modelVersion: nameSchema('model version'),
    handler: z.string().min(1),
    serializedFile: z.string().min(1).optional(),
    modelFile: z.string().min(1).optional(),
    extensions: z.string().optional(),
    requirementsFile: z.string().optional(),
    configFile: z.string().min(1).optional(),
    envelope: z.string().optional(),
  })
  .loose();

const ManifestSchema = z
  .object({
    createdOn: z.string().optional(),
    runtime: z.string().min(1),
    model: ModelSection,
    archiverVersion: z.string().optional(),
  })
  .loose();

/** MAR-INF/MANIFEST.json, with TorchServe's field names. Unknown fields are kept. */
export type Manifest = Readonly<z.infer<typeof ManifestSchema>>;

/** Fields for {@link createManifest}. */
export interface ManifestInit {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly handler: string;
  readonly serializedFile?: string;
  readonly configFile?: string;
  readonly requirementsFile?: string;
  /** @defaultValue now */
  readonly createdOn?: Date;
}

function two(value: number): string {
  return String(value).padStart(2, '0');
}

/** TorchServe's `createdOn` format: `%d/%m/%Y %H:%M:%S`. */
export function formatCreatedOn(date: Date): string {
  return `${two(date.getDate())}/${two(date.getMonth() + 1)}/${date.getFullYear()} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

/** Builds a manifest as kiln writes it: optional keys omitted, file names as basenames. */
export function createManifest(init: ManifestInit): Manifest {
  checkModelName(init.modelName);
  const model: Record<string, string> = { modelName: init.modelName };
  if (init.serializedFile) model['serializedFile'] = init.serializedFile;
  model['handler'] = init.handler;
  model['modelVersion'] = init.modelVersion;
  if (init.configFile) model['configFile'] = init.configFile;
  if (init.requirementsFile) model['requirementsFile'] = init.requirementsFile;
  return Object.freeze({
    createdOn: formatCreatedOn(init.createdOn ?? new Date()),
    runtime: KILN_RUNTIME,
    model: Object.freeze(model) as Manifest['model'],
    archiverVersion: ARCHIVER_VERSION,
  });
}

/**
 * Checks a name of `kind` (TorchServe's pattern, kiln's length limit); `source` prefixes the
 * message (`Parameter model_name`). @throws KilnError `KILN_ARCHIVE_NAME_INVALID`
 */
export function checkName(kind: NameKind, value: string, source?: string): void {
  const problem = nameProblem(kind, value);
  if (problem) {
    const shown = problem.length > 300 ? `${problem.slice(0, 297)}...` : problem;
    throw new KilnError('KILN_ARCHIVE_NAME_INVALID', source ? `${source}: ${shown}` : shown, { details: { kind } });
  }
}

/** Checks a model name against TorchServe's pattern and kiln's length limit. */
export function checkModelName(name: string): void {
  checkName('model name', name);
}

/** Versions kiln writes: what TorchServe users use (`1.0`, `2.1.3`, `2024-07-a`), nothing path-like. */
export const MODEL_VERSION_PATTERN = NAME_PATTERN;

/** Checks a model version: letters, digits, `_`, `-` and `.`, as it appears in URLs; bounded length. */
export function checkModelVersion(version: string): void {
  checkName('model version', version);
}

/** Serializes a manifest the way TorchServe's archiver does (2-space JSON). */
export function encodeManifest(manifest: Manifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/** Parses and validates MANIFEST.json text; `source` names the archive in errors. */
export function parseManifest(text: string, source: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new KilnError('KILN_ARCHIVE_MANIFEST_INVALID', `${source}: ${MANIFEST_FILE} is not valid JSON`, { cause: error });
  }
  const result = ManifestSchema.safeParse(json);
  if (!result.success) {
    throw new KilnError('KILN_ARCHIVE_MANIFEST_INVALID', `${source}: ${MANIFEST_FILE}: ${describeIssue(result.error)}`, {
      details: { issues: issueList(result.error) },
    });
  }
  return deepFreeze(result.data);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
