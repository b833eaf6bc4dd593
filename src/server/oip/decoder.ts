/**
 * Where an OIP inference request is decoded. Requests are decoded and checked before they join
 * a batch, so a malformed one is refused alone and never fails the other requests of its batch.
 * Binary tensor data and small JSON bodies decode on the event loop (0.06 ms for a 108 KiB
 * binary [1,3,48,192] FP32 tensor); a large JSON body is parsed in a worker thread instead, since
 * JSON costs about 50 times as much (2.9 ms for the same tensor as 524 KiB of JSON, 26 ms for a
 * batch of 8: `npm run bench:oip`) and would hold up every other request meanwhile.
 */
import type { Worker } from 'node:worker_threads';
import { KilnError, type ErrorCode } from '../../core/errors.js';
import { siblingModule, startTypeScriptThread } from '../../core/ts-thread.js';
import { decodeInferRequest, type InferRequest, type ModelSignature } from './request.js';

/** JSON bodies at least this large are decoded off the event loop. */
export const OFF_LOOP_JSON_BYTES = 64 * 1024;

/** A request for the decoding thread. */
export interface DecodeMessage {
  readonly id: number;
  readonly body: Uint8Array;
  readonly headerLength: string | undefined;
  readonly signature: ModelSignature;
}

/** The decoding thread's answer. */
export type DecodedMessage =
  | { readonly id: number; readonly request: InferRequest }
  | { readonly id: number; readonly error: { readonly code: string; readonly message: string } };

interface Pending {
  resolve(request: InferRequest): void;
  reject(error: unknown): void;
}

/**
 * Decodes OIP requests, large JSON ones in one worker thread started on first need. Its owner
 * (the server) closes it on stop. If the thread dies, the requests it held fail with a 500 and
 * the next large request starts a new one.
 */
export class OipDecoder {
  #thread: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;

  /**
   * Decodes and checks one request (see {@link decodeInferRequest}).
   * @throws KilnError `KILN_OIP_REQUEST_INVALID` for a malformed request.
   */
  async decode(body: Uint8Array, headerLength: string | undefined, signature: ModelSignature): Promise<InferRequest> {
    if (headerLength !== undefined || body.length < OFF_LOOP_JSON_BYTES) return decodeInferRequest(body, headerLength, signature);
    const thread = this.#start();
    const id = this.#nextId++;
    return new Promise<InferRequest>((resolve, reject) => {
      // Held while it has work, so a pending decode keeps the process alive; idle, it does not.
      if (this.#pending.size === 0) thread.ref();
      this.#pending.set(id, { resolve, reject });
      // The body's memory moves to the thread when nothing else shares its buffer.
      const owned = body.byteOffset === 0 && body.buffer instanceof ArrayBuffer && body.byteLength === body.buffer.byteLength;
      const message: DecodeMessage = { id, body, headerLength, signature };
      thread.postMessage(message, owned ? [body.buffer as ArrayBuffer] : []);
    });
  }

  /** Stops the thread; requests it still holds fail. */
  async close(): Promise<void> {
    const thread = this.#thread;
    this.#thread = undefined;
    await thread?.terminate();
  }

  #start(): Worker {
    if (this.#thread) return this.#thread;
    const thread = startTypeScriptThread(siblingModule('decode-entry', import.meta.url));
    thread.on('message', (answer: DecodedMessage) => {
      const pending = this.#pending.get(answer.id);
      this.#pending.delete(answer.id);
      if (this.#pending.size === 0) thread.unref();
      if (!pending) return;
      if ('request' in answer) pending.resolve(answer.request);
      else pending.reject(new KilnError(answer.error.code as ErrorCode, answer.error.message));
    });
    const died = (error: unknown) => {
      if (this.#thread === thread) this.#thread = undefined;
      for (const pending of this.#pending.values()) pending.reject(new KilnError('KILN_CORE_INTERNAL', 'The OIP decoding thread stopped.', { cause: error }));
      this.#pending.clear();
    };
    thread.on('error', died);
    thread.on('exit', died);
    // After the listeners, which would hold the process again: the owner closes it, but an idle,
    // forgotten decoder must not keep a process from exiting.
    thread.unref();
    this.#thread = thread;
    return thread;
  }
}
