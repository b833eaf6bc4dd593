/**
 * Engine defaults for a scope, and the thread sizing rule of engines the model server loads
 * (applied by src/serving/host-tuning.ts). Each worker of a model version holds its own
 * onnxruntime session with its own intra-op thread pool, and onnxruntime's own default (one
 * thread per physical core in every session) oversubscribes the machine as soon as a version runs
 * two workers, or decodes images while it infers. The rule, written once here:
 *
 *   intra-op threads per session = max(1, floor(cores / workers)),
 *   cores = `os.availableParallelism()`, workers = the version's worker count,
 *
 * and intra-op threads do not spin-wait for work between operators
 * (`session.intra_op.allow_spinning` = "0"), since the cores they would spin on are the ones
 * decoding the next batch (docs/benchmarks.md, "Overlap and sizing", has the measurement).
 * Applied only inside {@link withEngineDefaults}: the server wraps a handler's `initialize` in it;
 * engines loaded elsewhere (CLI, library) keep onnxruntime's defaults. An engine given explicit
 * intra-op threads (a handler's `handler.threads`) or its own `allow_spinning` keeps them.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** Defaults that engines loaded in one scope take unless their options say otherwise. */
export interface EngineDefaults {
  /** Used when an engine's `intraOpThreads` is unset or 0. */
  readonly intraOpThreads?: number;
  /** Entries an engine's own `sessionConfig` may override. */
  readonly sessionConfig?: Readonly<Record<string, string>>;
}

/** onnxruntime's session key for spin-waiting intra-op threads. */
export const ALLOW_SPINNING = 'session.intra_op.allow_spinning';

/** The sizing rule: intra-op threads for each of `workers` sessions on `cores` cores. */
export function intraOpThreadsFor(cores: number, workers: number): number {
  return Math.max(1, Math.floor(cores / Math.max(1, workers)));
}


const scope = new AsyncLocalStorage<EngineDefaults>();

/** Runs `work` so that every engine it loads (also after an await) takes `defaults`. */
export function withEngineDefaults<T>(defaults: EngineDefaults, work: () => T): T {
  return scope.run(defaults, work);
}

/** The defaults of the current scope, if any (read by Engine.load). */
export function scopedEngineDefaults(): EngineDefaults | undefined {
  return scope.getStore();
}
