/**
 * The one place where a handler host's process-wide performance settings are made, run before a
 * served handler loads (worker thread, worker process or in-process). Figures behind each choice
 * are in docs/benchmarks.md ("Overlap and sizing", `npm run bench:overlap`); the rule is stated in
 * docs/server.md ("Threads: workers × intra-op threads").
 *
 * Diagnostic switches, read here only (the benchmark compares with and without each):
 * `KILN_HANDLER_OVERLAP=0` runs handlers built with `overlap: true` strictly one batch at a time;
 * `KILN_ORT_SPINNING=0` makes onnxruntime's intra-op threads sleep at once, `=1` spin as
 * onnxruntime's defaults do (also between runs); `KILN_ORT_SPIN_US=n` sets the spin's length;
 * `KILN_SHARP_CONCURRENCY=n` sets libvips threads per image; `KILN_SOLO_RUNS=0` keeps every run
 * to the sizing rule's threads, even alone.
 */
import { availableParallelism } from 'node:os';
import { ALLOW_SPINNING, FORCE_SPINNING_STOP, intraOpThreadsFor, servedSpinConfig, SPIN_DURATION_US, type EngineDefaults } from '../runtime/served-threads.js';
import { soloRunsOver } from './batches-in-flight.js';

/**
 * libvips threads per image. Images of a batch already decode in parallel, one per libuv pool
 * thread (UV_THREADPOOL_SIZE, 4 by default, shared with fs and zlib), so one libvips thread each
 * keeps decoding from spreading every image across every core while onnxruntime runs on them.
 * Measured on 2 cores (docs/benchmarks.md, "Overlap and sizing"): 8 concurrent decodes alone, and
 * image_classifier under 64 clients, ran as fast with 1 as with 2 (0.96–1.08×, within noise), so
 * the setting that leaves the cores to onnxruntime wins. It is set explicitly because sharp's own
 * default depends on the build (1 on glibc without jemalloc, as here; the core count elsewhere).
 */
export const SHARP_THREADS_PER_IMAGE = 1;

let tuned = false;

/**
 * Process-wide settings for handlers (idempotent; sharp's concurrency is global to the process).
 * sharp is imported here, not at the top: the server's own thread imports this module (for
 * in-process hosts) and must not load sharp unless a handler runs there.
 */
export async function tuneHandlerProcess(): Promise<void> {
  if (tuned) return;
  tuned = true;
  const { sharp } = await import('../image/sharp.js');
  const concurrency = Number(process.env['KILN_SHARP_CONCURRENCY'] ?? SHARP_THREADS_PER_IMAGE);
  sharp.concurrency(Number.isInteger(concurrency) && concurrency >= 0 ? concurrency : SHARP_THREADS_PER_IMAGE);
}

/** Whether handlers that declare `overlap: true` overlap batches here (on unless switched off). */
export function overlapAllowed(): boolean {
  return process.env['KILN_HANDLER_OVERLAP'] !== '0';
}

/**
 * Engine defaults of a served version with `workers` workers: the sizing rule of
 * runtime/served-threads.ts over this machine's cores, and its short spin. Given the process's
 * shared count of batches in flight (batches-in-flight.ts), a run that is alone may use every
 * core ("Solo runs").
 */
export function servedEngineDefaults(workers: number, batchesInFlight?: Int32Array, cores: number = availableParallelism()): EngineDefaults {
  const intraOpThreads = intraOpThreadsFor(cores, workers);
  const solo = batchesInFlight && intraOpThreads < cores && process.env['KILN_SOLO_RUNS'] !== '0' ? soloRunsOver(batchesInFlight, cores) : undefined;
  return { intraOpThreads, sessionConfig: spinConfig(), ...(solo ? { solo } : {}) };
}

/** The served spin, or what a diagnostic switch asks for instead. */
function spinConfig(): Record<string, string> {
  const mode = process.env['KILN_ORT_SPINNING'];
  if (mode === '0') return { [ALLOW_SPINNING]: '0' };
  if (mode === '1') return { [ALLOW_SPINNING]: '1', [FORCE_SPINNING_STOP]: '0' };
  const config = servedSpinConfig();
  const microseconds = process.env['KILN_ORT_SPIN_US'];
  if (microseconds && /^\d+$/.test(microseconds)) config[SPIN_DURATION_US] = microseconds;
  return config;
}
