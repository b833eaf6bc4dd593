import { KilnError } from '../core/errors.js';
import type { BatchRequest, HandlerResponse } from '../handlers/run.js';

/** A handler's response with how long it waited and ran, for metrics and logs. */
export interface ServedResponse extends HandlerResponse {
  readonly queueMs: number;
  readonly inferenceMs: number;
  readonly batchSize: number;
}

/** One request waiting for a worker. */
export interface Job {
  readonly request: BatchRequest;
  readonly enqueuedAt: number;
  resolve(response: ServedResponse): void;
  reject(error: unknown): void;
}

/**
 * A bounded FIFO of jobs for one model version, with TorchServe's batching rule: a batch starts
 * with the oldest job and takes up to `batchSize` jobs, waiting at most `maxBatchDelay` ms from
 * that first job for more. Full → `KILN_SERVE_NO_WORKER` (503), as TorchServe answers. A job
 * that waited longer than `clientTimeoutMs` (model-config.yaml `clientTimeoutInMills`) is dropped
 * when a worker would take it: its client has given up, so it is not run.
 */
export class BatchQueue {
  readonly #jobs: Job[] = [];
  readonly #capacity: number;
  readonly #modelName: string;
  readonly #clientTimeoutMs: number;
  /** Workers waiting for the queue to change, in the order they started waiting; all are woken and re-check (few workers per model). */
  readonly #waiters = new Set<() => void>();

  /** @param clientTimeoutMs 0 (the default) lets jobs wait as long as it takes. */
  constructor(modelName: string, capacity: number, clientTimeoutMs = 0) {
    this.#modelName = modelName;
    this.#capacity = capacity;
    this.#clientTimeoutMs = clientTimeoutMs;
  }

  get depth(): number {
    return this.#jobs.length;
  }

  get remainingCapacity(): number {
    return Math.max(0, this.#capacity - this.#jobs.length);
  }

  /** Adds a job, or throws the 503 TorchServe gives when the queue is full. */
  push(job: Job): void {
    if (this.#jobs.length >= this.#capacity) {
      throw new KilnError(
        'KILN_SERVE_NO_WORKER',
        `Model "${this.#modelName}" has no worker to serve inference request. Please use scale workers API to add workers.`,
        { details: { reason: 'job queue full', capacity: this.#capacity } },
      );
    }
    this.#jobs.push(job);
    this.#notify();
  }

  /**
   * Wakes the waiting workers, the one that started waiting last first, so it takes the job: at
   * low load the same worker keeps answering while the others stay idle, its caches and its
   * onnxruntime threads warm. Woken in arrival order, workers took turns: with one worker per
   * core, a lone INT8 MobileNetV2 request on camera-size JPEGs was 2.0–2.6 ms behind the
   * hand-written server's p50, and 1.2 ms with this order (docs/benchmarks.md, "Acceptance 1 with
   * solo runs"). Under load every worker is busy and the order does not matter.
   */
  #notify(): void {
    const waiters = [...this.#waiters].reverse();
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  #changed(): Promise<void> {
    return new Promise((resolve) => this.#waiters.add(resolve));
  }

  /**
   * Waits for the next batch: at least one job, then up to `batchSize` jobs or `maxBatchDelay`
   * ms after the first job was queued, whichever comes first. Resolves empty when `signal` aborts,
   * or when another worker took the jobs first (the caller simply asks again).
   */
  async nextBatch(batchSize: number, maxBatchDelay: number, signal: AbortSignal): Promise<Job[]> {
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<void>((resolve) => {
      onAbort = () => resolve();
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await this.#collect(batchSize, maxBatchDelay, signal, aborted);
    } finally {
      // One listener per call, removed every time: a long-lived worker would otherwise pile them up.
      signal.removeEventListener('abort', onAbort!);
    }
  }

  async #collect(batchSize: number, maxBatchDelay: number, signal: AbortSignal, aborted: Promise<void>): Promise<Job[]> {
    while (this.#jobs.length === 0) {
      if (signal.aborted) return [];
      await Promise.race([this.#changed(), aborted]);
    }
    const deadline = this.#jobs[0]!.enqueuedAt + maxBatchDelay;
    while (this.#jobs.length < batchSize && !signal.aborted) {
      const wait = Math.min(deadline - performance.now(), 2 ** 31 - 1);
      if (wait <= 0) break;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.#changed(), aborted, new Promise<void>((resolve) => (timer = setTimeout(resolve, wait)))]);
      clearTimeout(timer);
    }
    if (signal.aborted) return [];
    return this.#take(batchSize);
  }

  /**
   * Up to `count` jobs from the head, less those past the client timeout: TorchServe drops
   * them without a word; kiln answers 408 so that a client still waiting is not left hanging.
   */
  #take(count: number): Job[] {
    const taken = this.#jobs.splice(0, count);
    if (this.#clientTimeoutMs <= 0) return taken;
    const now = performance.now();
    return taken.filter((job) => {
      const waitedMs = Math.round(now - job.enqueuedAt);
      if (waitedMs <= this.#clientTimeoutMs) return true;
      job.reject(
        new KilnError(
          'KILN_SERVE_CLIENT_TIMEOUT',
          `Request dropped: it waited ${waitedMs} ms for a worker of model "${this.#modelName}", longer than its clientTimeoutInMills (${this.#clientTimeoutMs} ms).`,
          { details: { waitedMs, clientTimeoutInMills: this.#clientTimeoutMs } },
        ),
      );
      return false;
    });
  }

  /**
   * Waits for a full batch (`batchSize` jobs waiting) and takes it; resolves empty as soon as
   * `until` settles or `signal` aborts. For a worker whose host is still running a batch: a full
   * batch can go ahead at once, while a partial one waits until the host is free and keeps
   * filling meanwhile, as it would have without the look-ahead.
   */
  async nextFullBatch(batchSize: number, until: Promise<unknown>, signal: AbortSignal): Promise<Job[]> {
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<void>((resolve) => {
      onAbort = () => resolve();
      signal.addEventListener('abort', onAbort, { once: true });
    });
    let settled = false;
    const finished = until.then(
      () => void (settled = true),
      () => void (settled = true),
    );
    try {
      while (!settled && !signal.aborted && this.#jobs.length < batchSize) await Promise.race([this.#changed(), finished, aborted]);
      return settled || signal.aborted ? [] : this.#take(batchSize);
    } finally {
      signal.removeEventListener('abort', onAbort!);
    }
  }

  /**
   * Puts back, at the head and in order, jobs a stopping worker had taken but not started: they
   * were admitted once, so the capacity does not refuse them now.
   */
  requeue(jobs: readonly Job[]): void {
    this.#jobs.unshift(...jobs);
    this.#notify();
  }

  /** Fails every waiting job (unregister, shutdown). */
  drain(error: unknown): void {
    for (const job of this.#jobs.splice(0)) job.reject(error);
  }
}
