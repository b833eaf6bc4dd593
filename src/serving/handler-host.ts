import type { OpenedArchive } from '../archive/read.js';
import type { Logger } from '../core/log.js';
import { initializeArchiveHandler, type ReadyHandler } from '../handlers/from-archive.js';
import { runBatch, type BatchRequest, type RequestOutcome } from '../handlers/run.js';
import type { RequestInput } from '../handlers/types.js';
import { batchesInFlightCounter } from './batches-in-flight.js';
import { servedEngineDefaults, tuneHandlerProcess } from './host-tuning.js';

/**
 * Where a worker's handler runs. The worker only loads it, sends it batches, and closes or
 * kills it; whether that is this thread, a worker thread or a worker process is the host's
 * business.
 */
export interface HandlerHost {
  /**
   * How many batches the worker may hand over before the first is answered (read before each
   * hand-over; it may change once loaded). A thread queues the next batch and runs it as soon as
   * the current one ends, without waiting for the server's event loop to answer and dispatch (2);
   * with a handler that overlaps batches (`prepare`), one more, so that a batch is there to
   * decode while the thread is blocked in the current batch's inference (3); in-process there is
   * nothing to overlap (1).
   */
  readonly maxInFlight: number;
  /** Loads the archive's handler (its `initialize`). */
  load(): Promise<void>;
  /** Runs one batch through the handler's contract checks; `handlerMs` is the handler's own time. */
  run(requests: readonly BatchRequest[]): Promise<HostResult>;
  /**
   * Gives back the batches handed over but not started (the worker is stopping): their `run`
   * resolves `{ recalled: true, inputs }` (the inputs as the host holds them now, since their
   * bytes may have moved), and the worker returns their jobs to the queue. Without it, every
   * batch handed over runs.
   */
  recall?(): void;
  /** Lets the handler free its resources. */
  close(): Promise<void>;
  /** Stops a handler that does not answer; the host cannot be used afterwards. */
  kill(): Promise<void>;
  /** Called once if the host dies on its own after loading (a crashed thread or process). */
  onDeath?: (error: unknown) => void;
  /** The process the handler runs in, when it is not the server's. */
  readonly pid?: number | undefined;
  /** That process's resident memory in bytes, when it has its own. */
  rss?(): number | undefined;
}

/**
 * A batch's outcomes (one per request: a response or that request's error) and the time the
 * handler itself took (without any thread hop), or word that the batch was recalled before it
 * started (see {@link HandlerHost.recall}).
 */
export type HostResult =
  | { readonly outcomes: RequestOutcome[]; readonly handlerMs: number }
  | { readonly recalled: true; readonly inputs: readonly RequestInput[] };

/** What a host needs to load a handler. */
export interface HostInit {
  readonly archive: OpenedArchive;
  readonly modelName: string;
  readonly batchSize: number;
  /** The version's worker count when this worker started; served engines size their threads by it. */
  readonly workers: number;
  readonly logger: Logger;
}

/**
 * The handler in the server's own thread: cheapest, but a handler's synchronous work (and
 * onnxruntime-node's `run`, which is synchronous) blocks the event loop while it runs.
 */
export class InProcessHost implements HandlerHost {
  readonly maxInFlight = 1;
  readonly #init: HostInit;
  #ready: ReadyHandler | undefined;

  constructor(init: HostInit) {
    this.#init = init;
  }

  async load(): Promise<void> {
    const { archive, logger, batchSize, modelName, workers } = this.#init;
    await tuneHandlerProcess();
    this.#ready = await initializeArchiveHandler(archive, { logger, batchSize, modelName, workers, engineDefaults: servedEngineDefaults(workers, batchesInFlightCounter()) });
  }

  async run(requests: readonly BatchRequest[]): Promise<HostResult> {
    const started = performance.now();
    const outcomes = await runBatch(this.#ready!.handler, this.#ready!.model, requests);
    return { outcomes, handlerMs: performance.now() - started };
  }

  async close(): Promise<void> {
    await this.#ready?.handler.close?.();
  }

  async kill(): Promise<void> {
    // A running handler cannot be stopped in-process: it is abandoned and closed when it can be.
    void this.#ready?.handler.close?.().catch(() => undefined);
  }
}
