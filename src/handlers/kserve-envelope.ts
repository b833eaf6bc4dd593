/**
 * TorchServe's `kserve` service envelope, on the worker's side of the boundary: a request whose
 * body is a KServe v1 body (`{"instances": [i0, i1, ...]}`) reaches the handler as one row per
 * instance, and its answer is `{"predictions": [r0, r1, ...]}` (`{"explanations": [...]}` when
 * its `explain` header is `True`), as TorchServe's `request_envelope/kserve.py` does.
 *
 * Unlike TorchServe's envelope, which unwraps only the first request of a batch, every request
 * of the batch is unwrapped and answered on its own: the instances of all requests run as one
 * handler batch, and each request gets back the results of its own instances. The contract is
 * still checked per row (one result per instance), so a failing instance fails its request
 * alone, and the requests beside it in the batch still get their predictions.
 */
import { KilnError } from '../core/errors.js';
import type { RequestInput, ResponseSettings } from './types.js';

/** The envelopes a request may carry (`BatchRequest.envelope` in ./run.ts). */
export type RequestEnvelope = 'kserve';

/** What this module reads of a request (./run.ts's BatchRequest, without importing it back). */
interface EnvelopedRequest {
  readonly input: RequestInput;
  readonly envelope?: RequestEnvelope;
  readonly headers?: Readonly<Record<string, string>>;
  readonly onIntermediate?: unknown;
}

/** An encoded answer (./run.ts's HandlerResponse). */
interface Answer {
  readonly body: Uint8Array;
  readonly json: boolean;
  readonly settings: Readonly<ResponseSettings>;
}

/** A request's instances, or why its body is not a KServe v1 body. */
function instancesOf(input: RequestInput, index: number): unknown[] | KilnError {
  // TorchServe reads `data`, else `body`; a body not yet parsed is JSON text.
  let value: unknown = input['data'] ?? input['body'];
  if (value instanceof Uint8Array || typeof value === 'string') {
    try {
      value = JSON.parse(typeof value === 'string' ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8'));
    } catch {
      return notV1(index, 'the body is not JSON');
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) return notV1(index, 'the body is not a JSON object');
  const instances = (value as Record<string, unknown>)['instances'];
  if (!Array.isArray(instances)) return notV1(index, 'it has no "instances" array');
  return instances;
}

function notV1(index: number, why: string): KilnError {
  return new KilnError('KILN_HANDLER_INPUT_INVALID', `request ${index}: service_envelope=kserve expects a KServe v1 body {"instances": [...]}, and ${why}`, {
    details: { requestIndex: index },
  });
}

/**
 * One instance as a handler row: an object is the row itself (`{"data": "<base64>"}` reaches an
 * image handler as TorchServe's mnist example sends it); anything else (a number list, a string)
 * is the row's `body`, where kiln's handlers look first.
 */
function rowOf(instance: unknown): RequestInput {
  return typeof instance === 'object' && instance !== null && !Array.isArray(instance) ? (instance as RequestInput) : { body: instance };
}

/** A handler's encoded answer for one instance, back as the value the handler returned. */
function valueOf(response: Answer): unknown {
  const text = (() => {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(response.body);
    } catch {
      return undefined;
    }
  })();
  if (response.json && text !== undefined) return JSON.parse(text) as unknown;
  // Bytes that are not text travel as KServe v1 (TensorFlow Serving) writes binary values.
  return text ?? { b64: Buffer.from(response.body).toString('base64') };
}

/** The first failing instance's error, as the error of its whole request. */
function instanceFailure(error: KilnError, request: number, instance: number): KilnError {
  return new KilnError(error.code, `instance ${instance}: ${error.message}`, { cause: error, details: { ...error.details, requestIndex: request, instance } });
}

/**
 * Runs a batch in which some requests carry the `kserve` envelope: those are expanded into their
 * instances, everything runs through `run` as one batch (the contract checks included), and each
 * enveloped request's outcomes are gathered into one `{"predictions": [...]}` answer (JSON).
 * Requests without the envelope pass through unchanged.
 */
export async function runKServeEnveloped<R extends EnvelopedRequest>(
  requests: readonly R[],
  run: (rows: readonly R[]) => Promise<(Answer | KilnError)[]>,
): Promise<(Answer | KilnError)[]> {
  const rows: R[] = [];
  /** Per request: its rows' positions in `rows`, or its own failure. */
  const plan: (readonly number[] | KilnError)[] = [];
  for (const [index, request] of requests.entries()) {
    const { envelope: _, ...plain } = request;
    if (!request.envelope) {
      plan.push([rows.push(plain as R) - 1]);
      continue;
    }
    const instances = instancesOf(request.input, index);
    if (instances instanceof KilnError) {
      plan.push(instances);
      continue;
    }
    // Streaming has no place in a {"predictions"} answer: the rows get no intermediate channel.
    const { onIntermediate: __, ...meta } = plain;
    plan.push(instances.map((instance) => rows.push({ ...meta, input: rowOf(instance) } as R) - 1));
  }
  const outcomes = rows.length > 0 ? await run(rows) : [];
  return requests.map((request, index): Answer | KilnError => {
    const positions = plan[index]!;
    if (positions instanceof KilnError) return positions;
    if (!request.envelope) return outcomes[positions[0]!]!;
    const values: unknown[] = [];
    for (const [instance, position] of positions.entries()) {
      const outcome = outcomes[position]!;
      if (outcome instanceof KilnError) return instanceFailure(outcome, index, instance);
      values.push(valueOf(outcome));
    }
    const key = request.headers?.['explain'] === 'True' ? 'explanations' : 'predictions';
    return { body: new TextEncoder().encode(JSON.stringify({ [key]: values }, null, 2)), json: true, settings: { headers: {}, contentType: 'application/json' } };
  });
}
