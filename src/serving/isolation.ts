import { z } from 'zod';
import type { OpenedArchive } from '../archive/read.js';
import { KilnError } from '../core/errors.js';
import { isBuiltinHandler } from '../handlers/builtin-names.js';
import { parseOrThrow } from '../core/schema-errors.js';

/** Where a worker's handler runs: a process of its own, a worker thread, or the server's thread (tests). */
export type IsolationMode = 'process' | 'thread' | 'in-process';

/** The smallest and largest memory ceiling a worker process may be given, in MiB. */
export const MIN_WORKER_MEMORY_MIB = 64;
export const MAX_WORKER_MEMORY_MIB = 1_048_576;
/** A worker process's memory ceiling when nothing says otherwise, in MiB. */
export const DEFAULT_WORKER_MEMORY_MIB = 4096;

/** The server-wide policy (config.properties `worker_isolation`, `worker_max_memory_mib`). */
export interface IsolationPolicy {
  /** `auto`: a process for archives with a user handler file, a thread for built-in handlers. */
  readonly mode: 'auto' | IsolationMode;
  readonly maxMemoryMiB: number;
}

/** How one version's workers run. */
export interface VersionIsolation {
  readonly mode: IsolationMode;
  /** A worker process's memory ceiling (resident memory and V8 heap), in MiB. */
  readonly maxMemoryMiB: number;
}

/** The keys of an archive's model-config.yaml `handler:` section that the server reads. */
const HandlerIsolationSchema = z.object({
  isolation: z.enum(['process', 'thread'], { message: 'must be process or thread' }).optional(),
  maxMemoryMiB: z
    .number({ message: 'must be a number of MiB' })
    .int('must be a whole number of MiB')
    .min(MIN_WORKER_MEMORY_MIB, `must be at least ${MIN_WORKER_MEMORY_MIB} (MiB)`)
    .max(MAX_WORKER_MEMORY_MIB, `must be at most ${MAX_WORKER_MEMORY_MIB} (MiB)`)
    .optional(),
});

/**
 * Decides where a version's handler runs: the archive's `handler.isolation` and
 * `handler.maxMemoryMiB` (model-config.yaml) win over the server-wide policy. User code gets a
 * process by default because only a process contains an exit, a kill, native memory or a child
 * process; kiln's own handlers keep the cheaper thread.
 * @throws KilnError `KILN_ARCHIVE_MODEL_CONFIG_INVALID` for a value out of its set or range.
 */
export function resolveIsolation(archive: OpenedArchive, policy: IsolationPolicy): VersionIsolation {
  const section = archive.modelConfig.handler['handler'];
  const handler = parseOrThrow(HandlerIsolationSchema, section !== null && typeof section === 'object' ? section : {}, (reason) =>
    new KilnError('KILN_ARCHIVE_MODEL_CONFIG_INVALID', `model-config.yaml: handler.${reason}`),
  );
  const mode = handler.isolation ?? (policy.mode === 'auto' ? (isBuiltinHandler(archive.manifest.model.handler) ? 'thread' : 'process') : policy.mode);
  return { mode, maxMemoryMiB: handler.maxMemoryMiB ?? policy.maxMemoryMiB };
}
