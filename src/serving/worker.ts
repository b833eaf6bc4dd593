
import { KilnError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { OpenedArchive } from '../archive/read.js';
import { isFailure } from '../handlers/run.js';
import type { HandlerHost, HostInit } from './handler-host.js';
import type { BatchQueue, Job } from './batch-queue.js';
import type { VersionSettings } from './settings.js';
import { batchAnswered, batchHandedOver } from './batches-in-flight.js';

/** A worker's lifecycle; changed only through {@link Worker.#setState}, which logs it. */
export type WorkerState = 'starting' | 'ready' | 'busy' | 'stopping' | 'stopped' | 'failed';

/** What describe reports about one worker (TorchServe's fields). */
export interface WorkerInfo {
  readonly id: string;
  readonly startTime: string;
  readonly status: 'READY' | 'UNLOADING';
  readonly memoryUsage: number;
  readonly pid: number;
  readonly gpu: boolean;
  readonly gpuUsage: string;
}

/** What a worker reports, for metrics: each batch it answered, and how long it took to load. */
export interface WorkerObserver {
  /** `inferenceMs`: the worker's round trip for the batch; `handlerMs`: the handler's own time. */
  batch(batch: { size: number; queueMs: number; inferenceMs: number; handlerMs: number }): void;
  loaded(worker: string, loadMs: number): void;
}

/** The longest delay setTimeout honours; larger values fire after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function withTimeout<T>(work: Promise<T>, seconds: number, onTimeout: () => KilnError): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), Math.min(seconds * 1000, MAX_TIMER_MS));
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * One loaded copy of a model version: its own handler instance (and so its own onnxruntime
 * sessions) in a {@link HandlerHost} (by default a worker thread, since onnxruntime-node's
 * `session.run` blocks the thread that calls it), pulling batches from the version's queue
 * (one at a time, or full ones ahead where the host queues them; see {@link HandlerHost.maxInFlight}). A handler that does not answer within responseTimeout fails its batch with
 * "Worker died."; its host is killed and the worker stops, so its version starts a replacement.
 */
export class Worker {
  readonly id: string;
  readonly startTime = new Date();
  #state: WorkerState = 'starting';
  #host: HandlerHost | undefined;
  readonly #createHost: (init: HostInit) => HandlerHost;
  readonly #stop = new AbortController();
  readonly #logger: Logger;
  #loop: Promise<void> | undefined;
  /** Batches handed to the host and not yet answered. */
  #inFlight = 0;

  constructor(id: string, logger: Logger, createHost: (init: HostInit) => HandlerHost) {
    this.id = id;
    this.#logger = logger.child({ worker: id });
    this.#createHost = createHost;
  }

  get state(): WorkerState {
    return this.#state;
  }

  #setState(next: WorkerState): void {
    this.#logger.debug({ from: this.#state, to: next }, 'worker state');
    this.#state = next;
  }

  /** Loads the handler (within startupTimeout), then serves batches until stopped or dead. */
  async start(modelName: string, archive: OpenedArchive, settings: VersionSettings, queue: BatchQueue, observe: WorkerObserver, onExit: (worker: Worker) => void): Promise<void> {
    const host = this.#createHost({ archive, modelName, batchSize: settings.batchSize, workers: settings.minWorkers, logger: this.#logger });
    this.#host = host;
    // A host that dies between batches (a crashed thread) fails this worker, so it is replaced.
    host.onDeath = (error) => {
      this.#logger.error({ err: error }, 'handler host died; replacing the worker');
      this.#setState('failed');
      this.#stop.abort();
    };
    const loadStarted = performance.now();
    try {
      await withTimeout(
        host.load(),
        settings.startupTimeout,
        () => new KilnError('KILN_SERVE_WORKERS_FAILED', `worker ${this.id} did not load within ${settings.startupTimeout} s`),
      );
    } catch (error) {
      await host.kill();
      this.#setState('failed');
      onExit(this);
      throw error;
    }
    if (this.#stop.signal.aborted) {
      // Stopped (scaled down) while loading: do not start serving, free the handler.
      await host.close().catch(() => undefined);
      this.#setState('stopped');
      onExit(this);
      return;
    }
    observe.loaded(this.id, performance.now() - loadStarted);
    this.#setState('ready');
    this.#loop = this.#serve(settings, queue, observe).finally(() => {
      if (this.#state !== 'failed') this.#setState('stopped');
      onExit(this);
    });
  }

  /**
   * Takes batches from the queue while the host has room for them (`maxInFlight`, read each time:
   * a host learns at load whether its handler overlaps batches): with a batch running, the next
   * is taken only once it is full, so look-ahead never makes batches smaller than they would have
   * been. (Handing over a partial batch early, so its decoding could start sooner, would make it
   * smaller: it keeps filling in the queue until the host is free.)
   */
  async #serve(settings: VersionSettings, queue: BatchQueue, observe: WorkerObserver): Promise<void> {
    const host = this.#host!;
    const running = new Set<Promise<void>>();
    while (!this.#stop.signal.aborted) {
      if (running.size >= host.maxInFlight) {
        await Promise.race(running);
        continue;
      }
      const jobs =
        running.size === 0
          ? await queue.nextBatch(settings.batchSize, settings.maxBatchDelay, this.#stop.signal)
          : await queue.nextFullBatch(settings.batchSize, Promise.race(running), this.#stop.signal);
      if (jobs.length === 0) continue;
      const batch: Promise<void> = this.#runBatch(host, queue, jobs, settings, observe)
        .catch((error: unknown) => this.#logger.error({ err: error }, 'batch bookkeeping failed'))
        .finally(() => running.delete(batch));
      running.add(batch);
    }
    await Promise.all(running);
  }

  /**
   * One batch through the host, answering each of its jobs. Its responseTimeout counts from the
   * hand-over, so a batch queued behind another in the host shares that time. A host that does
   * not answer in time, or dies, fails the worker (once), so its version starts a replacement.
   */
  async #runBatch(host: HandlerHost, queue: BatchQueue, jobs: Job[], settings: VersionSettings, observe: WorkerObserver): Promise<void> {
    this.#inFlight++;
    batchHandedOver();
    if (this.#state === 'ready') this.#setState('busy');
    const started = performance.now();
    const queueMs = Math.max(...jobs.map((job) => started - job.enqueuedAt));
    let handlerMs = 0;
    try {
      const result = await withTimeout(
        host.run(jobs.map((job) => job.request)),
        settings.responseTimeout,
        () => new KilnError('KILN_SERVE_WORKER_DIED', 'Worker died.', { details: { worker: this.id, responseTimeout: settings.responseTimeout } }),
      );
      if ('recalled' in result) {
        queue.requeue(jobs.map((job, index) => ({ ...job, request: { ...job.request, input: result.inputs[index]! } })));
        return;
      }
      const { outcomes, handlerMs: ran } = result;
      const inferenceMs = performance.now() - started;
      handlerMs = ran;
      // Each request gets its own outcome: one that failed does not fail the others.
      jobs.forEach((job, index) => {
        const outcome = outcomes[index]!;
        if (isFailure(outcome)) job.reject(outcome);
        else job.resolve({ ...outcome, queueMs: started - job.enqueuedAt, inferenceMs, batchSize: jobs.length });
      });
    } catch (error) {
      jobs.forEach((job) => job.reject(error));
      if (error instanceof KilnError && error.code === 'KILN_SERVE_WORKER_DIED') {
        if (this.#state !== 'failed') {
          this.#logger.error({ responseTimeout: settings.responseTimeout }, 'worker did not answer in time; replacing it');
          this.#setState('failed');
          this.#stop.abort();
          await host.kill();
        }
        return;
      }
    } finally {
      this.#inFlight--;
      batchAnswered();
    }
    observe.batch({ size: jobs.length, queueMs, inferenceMs: performance.now() - started, handlerMs });
    if (this.#state === 'busy' && this.#inFlight === 0) this.#setState('ready');
  }

  /** Stops taking batches, lets the current one finish, and frees the handler. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'failed') return;
    if (this.#state === 'starting') {
      // start() sees the abort when loading ends and frees the handler itself.
      this.#stop.abort();
      return;
    }
    this.#setState('stopping');
    this.#stop.abort();
    // A batch handed ahead and not started goes back to the queue, for another worker or a 503.
    this.#host?.recall?.();
    await this.#loop;
    await this.#host?.close().catch((error: unknown) => this.#logger.warn({ err: error }, 'handler close failed'));
  }

  /** Kills the handler host outright (shutdown past its deadline); the current batch fails. */
  async kill(): Promise<void> {
    this.#stop.abort();
    await this.#host?.kill();
    this.#setState('failed');
  }

  /** True while it counts towards describe's workers (loaded and serving, or unloading). */
  get listed(): boolean {
    return this.#state !== 'starting' && this.#state !== 'failed' && this.#state !== 'stopped';
  }

  info(): WorkerInfo {
    const status = this.#state === 'ready' || this.#state === 'busy' ? 'READY' : 'UNLOADING';
    return {
      id: this.id,
      startTime: this.startTime.toISOString(),
      status,
      memoryUsage: this.#host?.rss?.() ?? process.memoryUsage().rss,
      pid: this.#host?.pid ?? process.pid,
      gpu: false,
      gpuUsage: 'N/A',
    };
  }
}

