import type { OpenedArchive } from '../archive/read.js';
import { KilnError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { BatchRequest } from '../handlers/run.js';
import type { ServedResponse } from './batch-queue.js';
import { BatchQueue } from './batch-queue.js';
import type { HandlerHost, HostInit } from './handler-host.js';
import type { ModelSignature } from './model-signature.js';
import type { VersionSettings } from './settings.js';
import { Worker, type WorkerObserver, type WorkerInfo } from './worker.js';

/** Seconds between restarts of a failing worker: TorchServe's Fibonacci back-off, capped. */
const RESTART_BACKOFF_S = [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597];

/**
 * Where a request entered the server, for the one place that counts requests
 * (`RegistryObserver.served`): every entry point (TorchServe routes, OIP REST and gRPC, workflow
 * nodes) passes one, and a request without one (describe's `customized` call) is not counted.
 */
export interface RequestOrigin {
  /** `performance.now()` when the request arrived at its entry point. */
  readonly arrived: number;
  /** The caller named the version (TorchServe labels the metrics by it, else `default`). */
  readonly versionNamed: boolean;
}

/** What a version reports: its workers' events and each counted request it answered. */
export interface VersionObserver extends WorkerObserver {
  served(response: ServedResponse, origin: RequestOrigin): void;
}

/** Where a version came from and how it is served. */
export interface VersionInit {
  readonly name: string;
  readonly version: string;
  /** The url it was registered with (TorchServe's `modelUrl`, e.g. `noop.mar`). */
  readonly url: string;
  readonly archive: OpenedArchive;
  readonly settings: VersionSettings;
  /** The workflow this version is a node of, if any (left out of snapshots). */
  readonly workflow?: string | undefined;
  readonly logger: Logger;
  readonly observe: VersionObserver;
  /** Where each worker's handler runs (a worker thread, or this thread). */
  readonly createHost: (init: HostInit) => HandlerHost;
}

/**
 * One registered version of a model: its archive, settings, job queue and workers. It keeps
 * `minWorkers` workers alive, restarting failed ones with back-off.
 */
export class ModelVersion {
  readonly name: string;
  readonly version: string;
  readonly url: string;
  readonly archive: OpenedArchive;
  readonly queue: BatchQueue;
  /** The workflow this version is a node of, if any. */
  readonly workflow: string | undefined;
  readonly registeredAt = new Date();
  #settings: VersionSettings;
  readonly #workers = new Set<Worker>();
  readonly #logger: Logger;
  readonly #observe: VersionObserver;
  readonly #createHost: (init: HostInit) => HandlerHost;
  #nextId = 1;
  #failures = 0;
  #unhealthySince: number | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #signature: Promise<ModelSignature> | undefined;

  constructor(init: VersionInit) {
    this.name = init.name;
    this.version = init.version;
    this.url = init.url;
    this.archive = init.archive;
    this.workflow = init.workflow;
    this.#settings = init.settings;
    this.#logger = init.logger.child({ model: init.name, version: init.version });
    this.#observe = init.observe;
    this.#createHost = init.createHost;
    this.queue = new BatchQueue(init.name, init.settings.jobQueueSize, init.settings.clientTimeoutInMills);
  }

  /** True once the version is being removed (its workers stop; nothing more should be reported for it). */
  get closed(): boolean {
    return this.#closed;
  }

  get settings(): VersionSettings {
    return this.#settings;
  }

  /**
   * The model's ONNX inputs and outputs, read from the archive on first use (only the protocols
   * that describe tensors ask) and kept. The ONNX reader is imported then too: a server that is
   * never asked does not load the ONNX schema at start-up.
   */
  signature(): Promise<ModelSignature> {
    this.#signature ??= import('./model-signature.js')
      .then(({ readModelSignature }) => readModelSignature(this.archive))
      .catch((error: unknown) => {
        this.#signature = undefined;
        throw error;
      });
    return this.#signature;
  }

  /** Workers serving or loading (not stopping ones). */
  get liveWorkers(): number {
    return [...this.#workers].filter((worker) => worker.state === 'ready' || worker.state === 'busy' || worker.state === 'starting').length;
  }

  get readyWorkers(): number {
    return [...this.#workers].filter((worker) => worker.state === 'ready' || worker.state === 'busy').length;
  }

  /**
   * Healthy for /ping: enough live workers, or short of them for less than
   * maxRetryTimeoutInSec (a worker still loading or restarting counts, as in TorchServe).
   */
  healthy(now = Date.now()): boolean {
    if (this.liveWorkers >= this.#settings.minWorkers) return true;
    // The retry window opens the first time the version is seen short of workers (a worker that
    // just died may not have reported its exit yet).
    this.#unhealthySince ??= now;
    return now - this.#unhealthySince < this.#settings.maxRetryTimeoutInSec * 1000;
  }

  /** Sets the worker count to `min` (TorchServe keeps minWorkers running); resolves when started. */
  async scale(min: number, max: number): Promise<void> {
    this.#settings = Object.freeze({ ...this.#settings, minWorkers: min, maxWorkers: Math.max(min, max) });
    const live = [...this.#workers].filter((worker) => worker.state !== 'stopping' && worker.state !== 'stopped' && worker.state !== 'failed');
    const surplus = live.slice(min);
    const starts: Promise<void>[] = [];
    for (let count = live.length; count < min; count++) starts.push(this.#startWorker());
    await Promise.all([...surplus.map((worker) => worker.stop()), ...starts]);
    this.#drainIfNoWorker();
  }

  /** With no worker left (scaled to 0, or every restart failing), waiting requests get their 503 now. */
  #drainIfNoWorker(): void {
    if (this.liveWorkers === 0) this.queue.drain(this.#noWorker());
  }

  #noWorker(): KilnError {
    return new KilnError('KILN_SERVE_NO_WORKER', `Model "${this.name}" has no worker to serve inference request. Please use scale workers API to add workers.`);
  }

  async #startWorker(): Promise<void> {
    const worker = new Worker(`${this.name}-${this.version}-${this.#nextId++}`, this.#logger, this.#createHost);
    this.#workers.add(worker);
    try {
      await worker.start(this.name, this.archive, this.#settings, this.queue, this.#observe, (exited) => this.#onExit(exited));
      this.#failures = 0;
      if (this.liveWorkers >= this.#settings.minWorkers) this.#unhealthySince = undefined;
    } catch (error) {
      // The cause's first line goes in the message: the client, not only the log, learns why.
      const reason = firstLine(error instanceof Error ? error.message : String(error));
      throw new KilnError('KILN_SERVE_WORKERS_FAILED', `Failed to start workers for model ${this.name} version: ${this.version}: ${reason}`, {
        cause: error,
        details: { reason },
      });
    }
  }

  #onExit(worker: Worker): void {
    this.#workers.delete(worker);
    if (this.#closed || worker.state !== 'failed') return;
    // A worker died: keep minWorkers alive, backing off while restarts keep failing.
    this.#unhealthySince ??= Date.now();
    const delay = RESTART_BACKOFF_S[Math.min(this.#failures, RESTART_BACKOFF_S.length - 1)]! * 1000;
    this.#failures++;
    const restart = () => {
      if (this.#closed || this.liveWorkers >= this.#settings.minWorkers) return;
      this.#startWorker().catch((error: unknown) => {
        this.#logger.error({ err: error }, 'worker restart failed');
        this.#drainIfNoWorker();
      });
    };
    if (delay === 0 && this.liveWorkers < this.#settings.minWorkers) {
      // The first death since the last good start: the replacement starts now, and the requests
      // waiting behind the dead worker's batch wait for it instead of getting a 503.
      restart();
      return;
    }
    this.#drainIfNoWorker();
    this.#restartTimer = setTimeout(restart, delay);
    this.#restartTimer.unref();
  }

  /**
   * Queues one request and resolves with its response when a worker has handled its batch. With
   * an `origin`, the answered request is reported once (`served`), whichever entry point sent it.
   */
  predict(request: BatchRequest, origin?: RequestOrigin): Promise<ServedResponse> {
    if (this.liveWorkers === 0) return Promise.reject(this.#noWorker());
    const answered = new Promise<ServedResponse>((resolve, reject) => {
      this.queue.push({ request, enqueuedAt: performance.now(), resolve, reject });
    });
    if (origin === undefined) return answered;
    return answered.then((response) => {
      this.#observe.served(response, origin);
      return response;
    });
  }

  workerInfo(): WorkerInfo[] {
    return [...this.#workers].filter((worker) => worker.listed).map((worker) => worker.info());
  }

  /** Kills workers that are still busy (shutdown past its deadline). */
  async kill(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#workers].map((worker) => worker.kill()));
  }

  /** Stops every worker, fails waiting requests, and removes the extracted archive. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#restartTimer);
    this.queue.drain(this.#noWorker());
    await Promise.all([...this.#workers].map((worker) => worker.stop()));
    // Jobs the stopping workers gave back (taken ahead, never started) get their 503 too.
    this.queue.drain(this.#noWorker());
    await this.archive.remove();
  }
}

/** The first line of a message, bounded: enough to say why, never a stack or a page of output. */
function firstLine(message: string): string {
  const line = message.split('\n', 1)[0]!.trim();
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}
