import type { Worker as Thread } from 'node:worker_threads';
import { KilnError, type ErrorCode } from '../core/errors.js';
import { startTypeScriptThread } from '../core/ts-thread.js';
import type { BatchRequest } from '../handlers/run.js';
import type { HandlerHost, HostInit, HostResult } from './handler-host.js';
import type { HostMessage, ThreadData } from './thread-protocol.js';

/**
 * The handler in a worker thread: onnxruntime's synchronous `run` and any JavaScript the handler
 * does (decoding, box extraction) happen off the server's event loop, so health checks and other
 * requests stay responsive; a handler that hangs is terminated, not abandoned. The thread runs
 * kiln's TypeScript through tsx's loader, as the CLI does.
 */
export class ThreadHost implements HandlerHost {
  readonly maxInFlight = 2;
  readonly #init: HostInit;
  #thread: Thread | undefined;
  #exited = false;
  #loaded = false;
  onDeath?: (error: unknown) => void;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();

  constructor(init: HostInit) {
    this.#init = init;
  }

  load(): Promise<void> {
    const { archive, modelName, batchSize, logger } = this.#init;
    const data: ThreadData = {
      archive: { source: archive.source, format: archive.format, dir: archive.dir, files: [...archive.files], manifest: archive.manifest, modelConfig: archive.modelConfig, modelPath: archive.modelPath },
      modelName,
      batchSize,
      logLevel: logger.level,
    };
    const thread = startTypeScriptThread(new URL('./thread-entry.ts', import.meta.url), { workerData: data });
    this.#thread = thread;
    return new Promise<void>((resolve, reject) => {
      const failed = (error: unknown) => {
        this.#failAll(error);
        reject(error);
      };
      thread.on('message', (message: HostMessage) => {
        if (message.type === 'ready') {
          this.#loaded = true;
          resolve();
        }
        else if (message.type === 'init-error') failed(rebuild(message.error));
        else if (message.type === 'result') this.#settle(message.id, (p) => p.resolve({ responses: message.responses, handlerMs: message.handlerMs }));
        else if (message.type === 'error') this.#settle(message.id, (p) => p.reject(rebuild(message.error)));
        else if (message.type === 'recalled') this.#settle(message.id, (p) => p.resolve({ recalled: true, inputs: message.inputs }));
        else if (message.type === 'chunk') this.#pending.get(message.id)?.requests[message.index]?.onIntermediate?.(message.body, message.settings);
      });
      thread.on('error', (error) => {
        logger.error({ err: error }, 'handler thread crashed');
        failed(new KilnError('KILN_SERVE_WORKER_DIED', 'Worker died.', { cause: error }));
      });
      thread.on('exit', (code) => {
        this.#exited = true;
        const died = this.#thread === thread;
        this.#thread = undefined;
        const error = new KilnError('KILN_SERVE_WORKER_DIED', 'Worker died.', { details: { exitCode: code } });
        failed(error);
        // Not asked to close or be killed: the thread crashed, and its worker must be replaced.
        if (died && this.#loaded) this.onDeath?.(error);
      });
    });
  }

  #settle(id: number, action: (pending: Pending) => void): void {
    const pending = this.#pending.get(id);
    this.#pending.delete(id);
    if (pending) action(pending);
  }

  #failAll(error: unknown): void {
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }

  run(requests: readonly BatchRequest[]): Promise<HostResult> {
    const thread = this.#thread;
    if (!thread) return Promise.reject(new KilnError('KILN_SERVE_WORKER_DIED', 'Worker died.'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, requests });
      // Functions cannot be cloned: the thread gets the data, the callbacks stay here.
      thread.postMessage({ type: 'batch', id, requests: requests.map(({ onIntermediate: _, ...data }) => data) }, transferList(requests));
    });
  }

  recall(): void {
    this.#thread?.postMessage({ type: 'recall' });
  }

  async close(): Promise<void> {
    const thread = this.#thread;
    if (!thread || this.#exited) return;
    this.#thread = undefined;
    const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
    thread.postMessage({ type: 'close' });
    // A handler whose close() hangs is not allowed to hold the server up.
    const timer = setTimeout(() => void thread.terminate(), 10_000);
    await exited;
    clearTimeout(timer);
  }

  async kill(): Promise<void> {
    const thread = this.#thread;
    this.#thread = undefined;
    await thread?.terminate();
  }
}

interface Pending {
  resolve(result: HostResult): void;
  reject(error: unknown): void;
  readonly requests: readonly BatchRequest[];
}

/**
 * The memory a batch may hand over to the thread instead of copying it: in transferable
 * requests' inputs, the buffers of byte arrays and typed arrays (also inside the objects an input
 * holds, such as decoded tensors, two levels down), each listed once, and only when the array
 * spans its whole buffer (the server's `ownedBytes`, a freshly decoded tensor), so nothing else
 * shares what is detached here.
 */
function transferList(requests: readonly BatchRequest[]): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  const visit = (value: unknown, depth: number): void => {
    if (ArrayBuffer.isView(value)) {
      if (value.buffer instanceof ArrayBuffer && value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) buffers.add(value.buffer);
    } else if (depth > 0 && typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const inner of Object.values(value)) visit(inner, depth - 1);
    }
  };
  for (const request of requests) {
    if (request.transferable) for (const value of Object.values(request.input)) visit(value, 3);
  }
  return [...buffers];
}

/** A KilnError again, from its serialized form (code, message, details). */
function rebuild(error: { code: string; message: string; details: Record<string, unknown> }): KilnError {
  return new KilnError(error.code as ErrorCode, error.message, { details: error.details });
}
