/**
 * How many batches this process's workers have handed to their handlers and not had answered,
 * kept in shared memory so that handler threads read it without a message. A run whose batch is
 * the only one may use every core (runtime/served-threads.ts, "Solo runs"). Counted on the
 * server's thread, where a batch's end is known even when its handler thread dies. Worker
 * processes cannot share it; their batches are counted, but their engines get no solo runs.
 */
import type { SoloRuns } from '../runtime/served-threads.js';

const counter = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));

/** The shared counter, for a handler thread's data. */
export function batchesInFlightCounter(): Int32Array {
  return counter;
}

export function batchHandedOver(): void {
  Atomics.add(counter, 0, 1);
}

export function batchAnswered(): void {
  Atomics.sub(counter, 0, 1);
}

/** Solo runs over `cores` threads, alone while `shared` counts at most the run's own batch. */
export function soloRunsOver(shared: Int32Array, cores: number): SoloRuns {
  return { intraOpThreads: cores, alone: () => Atomics.load(shared, 0) <= 1 };
}
