import type { OpenedArchive } from '../archive/read.js';
import type { Logger } from '../core/log.js';
import { initializeArchiveHandler, type ReadyHandler } from '../handlers/from-archive.js';
import { runBatch, type BatchRequest, type HandlerResponse } from '../handlers/run.js';

/**
 * Where a worker's handler runs. The worker only loads it, sends it batches, and closes or
 * kills it; whether that is this thread or a worker thread is the host's business.
 */
export interface HandlerHost {
  /** Loads the archive's handler (its `initialize`). */
  load(): Promise<void>;
  /** Runs one batch through the handler's contract checks; `handlerMs` is the handler's own time. */
  run(requests: readonly BatchRequest[]): Promise<HostResult>;
  /** Lets the handler free its resources. */
  close(): Promise<void>;
  /** Stops a handler that does not answer; the host cannot be used afterwards. */
  kill(): Promise<void>;
  /** Called once if the host dies on its own after loading (a crashed worker thread). */
  onDeath?: (error: unknown) => void;
}

/** A batch's responses and the time the handler itself took (without any thread hop). */
export interface HostResult {
  readonly responses: HandlerResponse[];
  readonly handlerMs: number;
}

/** What a host needs to load a handler. */
export interface HostInit {
  readonly archive: OpenedArchive;
  readonly modelName: string;
  readonly batchSize: number;
  readonly logger: Logger;
}

/**
 * The handler in the server's own thread: cheapest, but a handler's synchronous work (and
 * onnxruntime-node's `run`, which is synchronous) blocks the event loop while it runs.
 */
export class InProcessHost implements HandlerHost {
  readonly #init: HostInit;
  #ready: ReadyHandler | undefined;

  constructor(init: HostInit) {
    this.#init = init;
  }

  async load(): Promise<void> {
    const { archive, logger, batchSize, modelName } = this.#init;
    this.#ready = await initializeArchiveHandler(archive, { logger, batchSize, modelName });
  }

  async run(requests: readonly BatchRequest[]): Promise<HostResult> {
    const started = performance.now();
    const responses = await runBatch(this.#ready!.handler, this.#ready!.model, requests);
    return { responses, handlerMs: performance.now() - started };
  }

  async close(): Promise<void> {
    await this.#ready?.handler.close?.();
  }

  async kill(): Promise<void> {
    // A running handler cannot be stopped in-process: it is abandoned and closed when it can be.
    void this.#ready?.handler.close?.().catch(() => undefined);
  }
}
