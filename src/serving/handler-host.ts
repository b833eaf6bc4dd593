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
  /** Runs one batch through the handler's contract checks. */
  run(requests: readonly BatchRequest[]): Promise<HandlerResponse[]>;
  /** Lets the handler free its resources. */
  close(): Promise<void>;
  /** Stops a handler that does not answer; the host cannot be used afterwards. */
  kill(): Promise<void>;
  /** Called once if the host dies on its own after loading (a crashed worker thread). */
  onDeath?: (error: unknown) => void;
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

  run(requests: readonly BatchRequest[]): Promise<HandlerResponse[]> {
    return runBatch(this.#ready!.handler, this.#ready!.model, requests);
  }

  async close(): Promise<void> {
    await this.#ready?.handler.close?.();
  }

  async kill(): Promise<void> {
    // A running handler cannot be stopped in-process: it is abandoned and closed when it can be.
    void this.#ready?.handler.close?.().catch(() => undefined);
  }
}
