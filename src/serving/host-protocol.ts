import type { Manifest } from '../archive/manifest.js';
import type { ModelConfig } from '../archive/model-config.js';
import { KilnError, isKilnError, type ErrorCode } from '../core/errors.js';
import type { BatchRequest, HandlerResponse, RequestOutcome } from '../handlers/run.js';
import type { RequestInput, ResponseSettings } from '../handlers/types.js';

/**
 * The messages between the server and a handler running elsewhere: a worker thread (structured
 * clone over a MessagePort) or a worker process (the same structured clone over IPC with
 * `serialization: 'advanced'`, so request and response bytes cross without JSON re-encoding).
 */

/** What a handler host is started with (structured-cloneable). */
export interface HostData {
  readonly archive: {
    readonly source: string;
    readonly format: 'zip' | 'tgz' | 'directory';
    readonly dir: string;
    readonly files: string[];
    readonly manifest: Manifest;
    readonly modelConfig: ModelConfig;
    readonly modelPath: string | undefined;
  };
  readonly modelName: string;
  readonly batchSize: number;
  /** The version's worker count (see HostInit). */
  readonly workers: number;
  readonly logLevel: string;
  /** The process's count of batches in flight (batches-in-flight.ts); only a thread shares it. */
  readonly batchesInFlight?: Int32Array;
}

/** An error's cause as it crosses a boundary: enough to log it where it is received. */
export interface SerializedCause {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  readonly cause?: SerializedCause;
}

/** A KilnError as it crosses a thread or process boundary, with its chain of causes. */
export interface SerializedError {
  readonly code: string;
  readonly message: string;
  readonly details: Record<string, unknown>;
  readonly cause?: SerializedCause;
}

/** How many causes deep a chain is carried (a cycle, or a very long chain, stops there). */
const MAX_CAUSE_DEPTH = 5;

function serializeCause(cause: unknown, depth = 0): SerializedCause | undefined {
  if (cause === undefined || cause === null || depth >= MAX_CAUSE_DEPTH) return undefined;
  if (!(cause instanceof Error)) return { name: typeof cause, message: String(cause) };
  const inner = serializeCause(cause.cause, depth + 1);
  return { name: cause.name, message: cause.message, ...(cause.stack ? { stack: cause.stack } : {}), ...(inner ? { cause: inner } : {}) };
}

function deserializeCause(cause: SerializedCause): Error {
  const error = new Error(cause.message, cause.cause ? { cause: deserializeCause(cause.cause) } : undefined);
  error.name = cause.name;
  if (cause.stack) error.stack = cause.stack;
  return error;
}

/** One request's outcome on the wire: its response, or its error. */
export type WireOutcome = HandlerResponse | { readonly error: SerializedError };

/** A batch for a handler host to run. */
export interface BatchMessage {
  readonly type: 'batch';
  readonly id: number;
  readonly requests: readonly BatchRequest[];
}

/**
 * Messages to a handler host: `init` (a process's first message; a thread gets its data at
 * start), batches, `recall` (give back the batches not started), `close`.
 */
export type HostCommand =
  | { readonly type: 'init'; readonly data: HostData }
  | BatchMessage
  | { readonly type: 'recall' }
  | { readonly type: 'close' };

/** Messages from a handler host. */
export type HostMessage =
  | { readonly type: 'ready'; readonly overlap?: boolean }
  | { readonly type: 'init-error'; readonly error: SerializedError }
  | { readonly type: 'result'; readonly id: number; readonly outcomes: WireOutcome[]; readonly handlerMs: number }
  | { readonly type: 'error'; readonly id: number; readonly error: SerializedError }
  | { readonly type: 'recalled'; readonly id: number; readonly inputs: RequestInput[] }
  | { readonly type: 'chunk'; readonly id: number; readonly index: number; readonly body: Uint8Array; readonly settings: ResponseSettings };

/**
 * Any error as a KilnError's wire form: a foreign error becomes "Prediction failed" with its
 * message as the reason and itself as the cause. Details keep only what JSON can carry, so they
 * survive cloning; causes keep their name, message and stack.
 */
export function serializeError(error: unknown): SerializedError {
  const kiln = isKilnError(error)
    ? error
    : new KilnError('KILN_HANDLER_FAILED', 'Prediction failed', { cause: error, details: { reason: (error as Error)?.message ?? String(error) } });
  let details: Record<string, unknown>;
  try {
    details = JSON.parse(JSON.stringify(kiln.details)) as Record<string, unknown>;
  } catch {
    details = {};
  }
  const cause = serializeCause(kiln.cause);
  return { code: kiln.code, message: kiln.message, details, ...(cause ? { cause } : {}) };
}

/** A KilnError again, from its wire form, its causes as plain Errors with their stacks. */
export function deserializeError(error: SerializedError): KilnError {
  return new KilnError(error.code as ErrorCode, error.message, { details: error.details, ...(error.cause ? { cause: deserializeCause(error.cause) } : {}) });
}

export function toWire(outcomes: readonly RequestOutcome[]): WireOutcome[] {
  return outcomes.map((outcome) => (outcome instanceof KilnError ? { error: serializeError(outcome) } : outcome));
}

export function fromWire(outcomes: readonly WireOutcome[]): RequestOutcome[] {
  return outcomes.map((outcome) => ('error' in outcome ? deserializeError(outcome.error) : outcome));
}
