import { KilnError, isKilnError } from '../core/errors.js';
import { BatchContext, type ModelContextInit, type RequestMeta } from './context.js';
import { describeValue, encodeResult } from './encode.js';
import { runKServeEnveloped, type RequestEnvelope } from './kserve-envelope.js';
import type { Handler, RequestInput, ResponseSettings } from './types.js';

/** A request as the worker hands it to a handler: decoded input plus metadata. */
export interface BatchRequest extends RequestMeta {
  readonly input: RequestInput;
  /**
   * The input's byte arrays and typed arrays (decoded tensors too) belong to this request alone,
   * so a handler thread may take them (move, not copy, their memory). Set by the HTTP routes; not
   * by workflows, which retry a node with the same input and pass one node's output to several.
   * @defaultValue false (copied)
   */
  readonly transferable?: boolean;
  /**
   * Asks for the handler's {@link Handler.describe} metadata instead of a prediction (TorchServe
   * sends a describe job through the model's queue, with header `describe: True`). A field, not
   * a header, so that no inference request can ask for it.
   */
  readonly describe?: boolean;
  /**
   * The body is wrapped in a service envelope the handler does not see: `kserve` (set by the HTTP
   * routes under `service_envelope=kserve`) hands the handler one row per instance of
   * `{"instances": [...]}` and answers `{"predictions": [...]}` (see ./kserve-envelope.ts).
   * @defaultValue undefined (the input as decoded)
   */
  readonly envelope?: RequestEnvelope;
}

/** One response, ready for a transport to write. */
export interface HandlerResponse {
  /** Bytes as returned, strings as UTF-8, anything else as 2-space JSON. */
  readonly body: Uint8Array;
  /** True when the body was produced by JSON.stringify (the handler returned a value). */
  readonly json: boolean;
  readonly settings: Readonly<ResponseSettings>;
}

function isPredictionError(error: unknown): error is Error & { status: number } {
  return error instanceof Error && error.name === 'PredictionError' && typeof (error as { status?: unknown }).status === 'number';
}

/** One request's outcome: its response, or the error that request alone fails with. */
export type RequestOutcome = HandlerResponse | KilnError;

/** True when an outcome is a failure. */
export function isFailure(outcome: RequestOutcome): outcome is KilnError {
  return outcome instanceof KilnError;
}

/**
 * Runs one batch through a handler and checks the contract at the worker boundary, answering
 * every request on its own: it never throws for anything the handler does.
 * - `handle` returns one result per request; a result that is an `Error` fails that request
 *   alone (a {@link PredictionError} with its status, a KilnError with its code, anything
 *   else as "Prediction failed"), and so does a result that cannot be encoded.
 * - A throw that names one request (`details.requestIndex`, as {@link forRequest} tags it)
 *   fails that request, and the others run again without it: old-style handlers that throw on
 *   one bad input still cost only that input.
 * - Any other throw, a non-array or a count mismatch fails the whole batch: each request gets
 *   the same error, naming every index.
 */
export async function runBatch(handler: Handler, model: ModelContextInit, requests: readonly BatchRequest[]): Promise<RequestOutcome[]> {
  if (requests.some((request) => request.envelope)) return runKServeEnveloped(requests, (rows) => runBatch(handler, model, rows));
  if (requests.some((request) => request.describe)) return runWithDescribes(handler, model, requests);
  return withCulpritRetry(handler, model, requests, () => runOnce(handler, model, requests));
}

/** A batch whose first step has run (see {@link prepareBatch}); `finish` runs the rest. */
export interface PreparedRun {
  /** Inference → postprocess and the contract checks; like {@link runBatch}, it never throws. */
  finish(): Promise<RequestOutcome[]>;
  /** How long the first step took, in ms (0 when it runs inside `finish`). */
  readonly preparedMs: number;
}

/**
 * Runs a batch's `preprocess` now, for a handler with {@link Handler.prepare} (one built with
 * `overlap: true`), so that it can overlap the inference of the batch ahead; `finish` runs the
 * rest later, with {@link runBatch}'s semantics: a preprocess that throws naming one request
 * fails that request and the others run again, in `finish`, without it. For any other handler,
 * and for batches holding envelopes or describes, nothing runs before `finish`.
 */
export async function prepareBatch(handler: Handler, model: ModelContextInit, requests: readonly BatchRequest[]): Promise<PreparedRun> {
  const prepare = handler.prepare?.bind(handler);
  if (!prepare || requests.some((request) => request.envelope || request.describe)) return { finish: () => runBatch(handler, model, requests), preparedMs: 0 };
  const started = performance.now();
  const context = new BatchContext(model, requests);
  let rest: () => Promise<unknown>;
  try {
    rest = await prepare(
      requests.map((request) => request.input),
      context,
    );
  } catch (error) {
    // Kept for `finish`: the batch ahead is answered first, and this one in its turn.
    rest = () => Promise.reject(error);
  }
  const preparedMs = performance.now() - started;
  return { finish: () => withCulpritRetry(handler, model, requests, async () => checkResults(await rest(), context, requests.length)), preparedMs };
}

/**
 * Runs `attempt`; when it throws, every request gets the error, unless the error names one
 * request: then that one fails and the others run again without it.
 */
async function withCulpritRetry(handler: Handler, model: ModelContextInit, requests: readonly BatchRequest[], attempt: () => Promise<RequestOutcome[]>): Promise<RequestOutcome[]> {
  try {
    return await attempt();
  } catch (error) {
    const failure = handlerError(error, requests.map((_, index) => index));
    const culprit = failure.details['requestIndex'];
    if (typeof culprit !== 'number' || !Number.isInteger(culprit) || culprit < 0 || culprit >= requests.length || requests.length < 2) {
      return requests.map(() => failure);
    }
    const others = await runBatch(handler, model, requests.filter((_, index) => index !== culprit));
    return [...others.slice(0, culprit), failure, ...others.slice(culprit)];
  }
}

/** A batch holding describe requests: each gets the hook's answer, the rest run as a batch. */
async function runWithDescribes(handler: Handler, model: ModelContextInit, requests: readonly BatchRequest[]): Promise<RequestOutcome[]> {
  const predictions = requests.filter((request) => !request.describe);
  const predicted = predictions.length > 0 ? await runBatch(handler, model, predictions) : [];
  const outcomes: RequestOutcome[] = [];
  for (const [index, request] of requests.entries()) {
    if (!request.describe) {
      outcomes.push(predicted.shift()!);
      continue;
    }
    try {
      const context = new BatchContext(model, [request]);
      // No hook answers null, as TorchServe's base handler answers None.
      const metadata: unknown = (await handler.describe?.(context)) ?? null;
      outcomes.push({ ...encodeResult(metadata, 0), settings: context.responseSettings(0) });
    } catch (error) {
      outcomes.push(handlerError(error, [index], index));
    }
  }
  return outcomes;
}

async function runOnce(handler: Handler, model: ModelContextInit, requests: readonly BatchRequest[]): Promise<RequestOutcome[]> {
  const context = new BatchContext(model, requests);
  const results: unknown = await handler.handle(
    requests.map((request) => request.input),
    context,
  );
  return checkResults(results, context, requests.length);
}

/** The worker boundary's checks: one result per request, each encoded on its own. */
function checkResults(results: unknown, context: BatchContext, count: number): RequestOutcome[] {
  const indices = Array.from({ length: count }, (_, index) => index);
  if (!Array.isArray(results)) {
    throw new KilnError('KILN_HANDLER_OUTPUT_INVALID', `Invalid model predict output: the handler returned ${describeValue(results)}, not an array`, {
      details: { requestIndices: indices },
    });
  }
  if (results.length !== count) {
    throw new KilnError(
      'KILN_HANDLER_BATCH_MISMATCH',
      `number of batch response mismatched: ${count} requests, ${results.length} results`,
      { details: { requestIndices: indices, requests: count, results: results.length } },
    );
  }
  return results.map((result: unknown, index): RequestOutcome => {
    if (result instanceof Error) return handlerError(result, [index], index);
    try {
      return { ...encodeResult(result, index), settings: context.responseSettings(index) };
    } catch (error) {
      return handlerError(error, [index], index);
    }
  });
}

/** HTTP statuses a PredictionError may set; anything else becomes 500, as a bad code cannot be sent. */
function predictionStatus(status: number): number {
  return Number.isInteger(status) && status >= 400 && status <= 599 ? status : 500;
}

/**
 * Turns whatever a handler threw into a KilnError that names the requests it concerns: an
 * error that already names its request (bad input in request 2) keeps that, others get every
 * index of the batch. The wire message stays TorchServe's; the reason goes to details and cause.
 */
function handlerError(error: unknown, indices: readonly number[], requestIndex?: number): KilnError {
  const where = requestIndex === undefined ? { requestIndices: indices } : { requestIndex };
  if (isKilnError(error)) {
    if ('requestIndex' in error.details || 'requestIndices' in error.details) return error;
    return new KilnError(error.code, error.message, { cause: error, details: { ...error.details, ...where } });
  }
  if (isPredictionError(error)) {
    return new KilnError('KILN_HANDLER_PREDICTION_ERROR', error.message, {
      cause: error,
      details: { status: predictionStatus(error.status), ...where },
    });
  }
  return new KilnError('KILN_HANDLER_FAILED', 'Prediction failed', {
    cause: error,
    details: { reason: (error as Error)?.message ?? String(error), ...where },
  });
}
