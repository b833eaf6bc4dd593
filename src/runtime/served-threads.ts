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
 * and intra-op threads spin-wait only briefly: {@link SPIN_MICROSECONDS} between the operators of
 * one run, never between runs (`session.intra_op.allow_spinning` = "1",
 * `session.intra_op.spin_duration_us`, `session.force_spinning_stop` = "1"). Sleeping at once
 * cost a lone request ≈ 2 ms (every operator wakes a sleeping thread); onnxruntime's default spin
 * burns the cores that decode the next batch between runs (0.74× throughput under 64 clients);
 * the short spin measured the same throughput as none and a lone request within 0.3–1 ms of the
 * hand-written server (docs/benchmarks.md, "The spin rule").
 *
 * Solo runs: a session sized by the rule leaves cores idle when its worker's batch is the only
 * work in the process (one client: the other workers wait). A scope may then give engines a
 * {@link SoloRuns}: the engine opens a second session with every core's threads after the first
 * run that found itself alone, and runs on it whenever it is alone again. Under load every run
 * keeps to its share of the cores, so the two never oversubscribe them together for long.
 * Applied only inside {@link withEngineDefaults}: the server wraps a handler's `initialize` in it;
 * engines loaded elsewhere (CLI, library) keep onnxruntime's defaults. An engine given explicit
 * intra-op threads (a handler's `handler.threads`) or its own session entries keeps them.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** Defaults that engines loaded in one scope take unless their options say otherwise. */
export interface EngineDefaults {
  /** Used when an engine's `intraOpThreads` is unset or 0. */
  readonly intraOpThreads?: number;
  /** Entries an engine's own `sessionConfig` may override. */
  readonly sessionConfig?: Readonly<Record<string, string>>;
  /** Lets a run that has the cores to itself use them all (see "Solo runs" above). */
  readonly solo?: SoloRuns;
}

/** What an engine needs for solo runs. */
export interface SoloRuns {
  /** Intra-op threads of the solo session: the machine's cores. */
  readonly intraOpThreads: number;
  /** Whether a run starting now would be the only work in the process. */
  readonly alone: () => boolean;
}

/** onnxruntime's session key for spin-waiting intra-op threads. */
export const ALLOW_SPINNING = 'session.intra_op.allow_spinning';
/** How long an idle intra-op thread spins before it sleeps (onnxruntime ≥ 1.26). */
export const SPIN_DURATION_US = 'session.intra_op.spin_duration_us';
/** Stops the intra-op threads' spinning when each run ends. */
export const FORCE_SPINNING_STOP = 'session.force_spinning_stop';
/** The spin of served sessions: long enough to catch the next operator, short of a decode. */
export const SPIN_MICROSECONDS = 20;

/** Session entries of served engines: the short spin above. */
export function servedSpinConfig(): Record<string, string> {
  return { [ALLOW_SPINNING]: '1', [SPIN_DURATION_US]: String(SPIN_MICROSECONDS), [FORCE_SPINNING_STOP]: '1' };
}

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
