import { KilnError } from '../core/errors.js';
import type { BatchRequest } from '../handlers/run.js';
import type { HandlerHost, HostInit, HostResult } from './handler-host.js';
import { deserializeError, fromWire, type HostCommand, type HostData, type HostMessage } from './host-protocol.js';

/** What the far side reports: its messages, and its end (once, with why). */
export interface ChannelEvents {
  message(message: HostMessage): void;
  exit(error: KilnError): void;
}

/** The server's end of a thread or process that runs a handler. */
export interface HostChannel {
  /** The process the handler runs in (the server's own for a thread). */
  readonly pid: number;
  send(command: HostCommand, transfer: readonly ArrayBuffer[]): void;
  /** Resident memory of the handler's own process in bytes; undefined when it is the server's. */
  rss(): number | undefined;
  /** Ends it now, with whatever it started; resolves once it has exited. */
  kill(): Promise<void>;
}

/** Opens a channel: starts the thread or process that will load `data`'s handler. */
export type ChannelOpener = (data: HostData, events: ChannelEvents) => HostChannel;

/**
 * A handler running away from the server's event loop (a worker thread or a worker process):
 * batches go out as messages and come back as one outcome per request. Everything here is the
 * same for both; how the far side is started, watched and killed is the channel's business.
 */
export class RemoteHost implements HandlerHost {
  /**
   * The far side queues the next batch and starts it as soon as the current one ends (2); a
   * handler that overlaps batches takes one more (3): the far side's thread is blocked while
   * onnxruntime runs, so the batch to decode meanwhile must have arrived before that run began.
   */
  get maxInFlight(): number {
    return this.#overlap ? 3 : 2;
  }
  #overlap = false;
  readonly #init: HostInit;
  readonly #open: ChannelOpener;
  #channel: HostChannel | undefined;
  #pid: number | undefined;
  #loaded = false;
  #exited = false;
  #exit: Promise<void> | undefined;
  onDeath?: (error: unknown) => void;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();

  constructor(init: HostInit, open: ChannelOpener) {
    this.#init = init;
    this.#open = open;
  }

  get pid(): number | undefined {
    return this.#pid;
  }

  rss(): number | undefined {
    return this.#channel?.rss();
  }

  load(): Promise<void> {
    const { archive, modelName, batchSize, workers, logger } = this.#init;
    const data: HostData = {
      archive: { source: archive.source, format: archive.format, dir: archive.dir, files: [...archive.files], manifest: archive.manifest, modelConfig: archive.modelConfig, modelPath: archive.modelPath },
      modelName,
      batchSize,
      workers,
      logLevel: logger.level,
    };
    let markExited: () => void = () => undefined;
    this.#exit = new Promise<void>((resolve) => (markExited = resolve));
    return new Promise<void>((resolve, reject) => {
      const failed = (error: unknown) => {
        this.#failAll(error);
        reject(error);
      };
      const channel = this.#open(data, {
        message: (message) => {
          if (message.type === 'ready') {
            this.#loaded = true;
            this.#overlap = message.overlap === true;
            resolve();
          } else if (message.type === 'init-error') failed(deserializeError(message.error));
          else if (message.type === 'result') this.#settle(message.id, (p) => p.resolve({ outcomes: fromWire(message.outcomes), handlerMs: message.handlerMs }));
          else if (message.type === 'error') this.#settle(message.id, (p) => p.reject(deserializeError(message.error)));
          else if (message.type === 'recalled') this.#settle(message.id, (p) => p.resolve({ recalled: true, inputs: message.inputs }));
          else if (message.type === 'chunk') this.#pending.get(message.id)?.requests[message.index]?.onIntermediate?.(message.body, message.settings);
        },
        exit: (error) => {
          if (this.#exited) return;
          this.#exited = true;
          markExited();
          // Not asked to close or be killed: it crashed, and its worker must be replaced.
          const died = this.#channel === channel;
          this.#channel = undefined;
          failed(error);
          if (died && this.#loaded) this.onDeath?.(error);
        },
      });
      this.#channel = channel;
      this.#pid = channel.pid;
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
    const channel = this.#channel;
    if (!channel) return Promise.reject(new KilnError('KILN_SERVE_WORKER_DIED', 'Worker died.'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, requests });
      // Functions cannot be cloned: the far side gets the data, the callbacks stay here.
      channel.send({ type: 'batch', id, requests: requests.map(({ onIntermediate: _, ...data }) => data) }, transferList(requests));
    });
  }

  recall(): void {
    this.#channel?.send({ type: 'recall' }, []);
  }

  async close(): Promise<void> {
    const channel = this.#channel;
    if (!channel || this.#exited) return;
    this.#channel = undefined;
    channel.send({ type: 'close' }, []);
    // A handler whose close() hangs is not allowed to hold the server up.
    const timer = setTimeout(() => void channel.kill(), 10_000);
    await this.#exit;
    clearTimeout(timer);
  }

  async kill(): Promise<void> {
    const channel = this.#channel;
    this.#channel = undefined;
    await channel?.kill();
  }
}

interface Pending {
  resolve(result: HostResult): void;
  reject(error: unknown): void;
  readonly requests: readonly BatchRequest[];
}

/**
 * The memory a batch may hand over to a thread instead of copying it: in transferable
 * requests' inputs, the buffers of byte arrays and typed arrays (also inside the objects an input
 * holds, such as decoded tensors, two levels down), each listed once, and only when the array
 * spans its whole buffer (the server's `ownedBytes`, a freshly decoded tensor), so nothing else
 * shares what is detached here. A process channel copies whatever it is given.
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
