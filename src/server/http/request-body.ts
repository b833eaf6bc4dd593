/**
 * Request bodies: reading them under a size cap, and decoding them into the per-request input a
 * handler sees, the way TorchServe does (spec torchserve-api.md §3, "Request decoding").
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import busboy from 'busboy';
import { KilnError, describeError } from '../../core/errors.js';

/** Options of {@link readBody}. */
export interface ReadBodyOptions {
  /** Largest body accepted, in bytes (TorchServe's `max_request_size`). */
  readonly maxBytes: number;
  /**
   * Refuse with 408 when the whole body has not arrived within this many milliseconds.
   * @defaultValue no limit of its own (the server's `requestTimeout` still applies)
   */
  readonly timeoutMs?: number;
}

/**
 * Reads the whole request body, refusing bodies over `maxBytes` with KILN_SERVE_PAYLOAD_TOO_LARGE.
 * A declared Content-Length over the cap is refused before a byte is read, so the client gets its
 * 413 at once; a chunked body is refused as soon as it passes the cap. After a refusal the rest
 * is drained and dropped (never kept) until the error response closes the connection.
 * @example const body = await readBody(req, { maxBytes: 6_553_500 });
 */
export function readBody(req: IncomingMessage, options: ReadBodyOptions): Promise<Buffer> {
  const { maxBytes } = options;
  const declared = declaredLength(req.headers);
  if (declared !== undefined && declared > maxBytes) return Promise.reject(tooLarge(maxBytes));

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
      fail(new KilnError('KILN_SERVE_REQUEST_TIMEOUT', `The request body did not arrive within ${options.timeoutMs} ms.`));
    }, options.timeoutMs);

    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > maxBytes) fail(tooLarge(maxBytes));
      else chunks.push(chunk);
    };
    const onEnd = (): void => {
      stop();
      resolve(Buffer.concat(chunks, received));
    };
    const onError = (error: unknown): void => {
      fail(new KilnError('KILN_SERVE_BAD_REQUEST', `The request body could not be read: ${describeError(error)}`, { cause: error }));
    };
    // 'close' without 'end' means the client went away mid-body; nobody will read a reply.
    const onClose = (): void => fail(new KilnError('KILN_SERVE_BAD_REQUEST', 'The client closed the connection before the body was complete.'));

    function stop(): void {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
    }
    function fail(error: KilnError): void {
      stop();
      chunks.length = 0;
      // Keep the socket flowing so the error response can be written; the bytes are discarded.
      req.resume();
      reject(error);
    }

    req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

/** How long {@link discardBody} waits for the rest of a refused body. */
const DISCARD_TIMEOUT_MS = 30_000;

/**
 * Reads and drops a body that no route read, so that an error answered before reading it
 * (bad token, unknown model, unknown route) reaches a client that is still sending: the error's
 * `Connection: close` would otherwise close the socket on unread input, and the client would
 * see EPIPE or a reset instead of the answer. Resolves at the body's end, once more than
 * `maxBytes` have been dropped (the answer then closes the connection, as for a 413), when the
 * client goes away, or after 30 s. A body already read, being read, or declared larger than
 * `maxBytes` is left alone.
 * @example await discardBody(req, settings.maxRequestSize); sendError(res, error, ctx);
 */
export function discardBody(req: IncomingMessage, maxBytes: number): Promise<void> {
  const declared = declaredLength(req.headers);
  if (req.complete || req.readableFlowing !== null || req.destroyed || (declared !== undefined && declared > maxBytes)) return Promise.resolve();
  return new Promise((resolve) => {
    let dropped = 0;
    const timer = setTimeout(done, DISCARD_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      dropped += chunk.length;
      if (dropped > maxBytes) done();
    };
    function done(): void {
      clearTimeout(timer);
      // Still flowing without a listener: whatever else arrives is dropped until the socket closes.
      req.off('data', onData).off('end', done).off('error', done).off('close', done);
      resolve();
    }
    req.on('data', onData).on('end', done).on('error', done).on('close', done);
  });
}

function declaredLength(headers: IncomingHttpHeaders): number | undefined {
  const value = headers['content-length'];
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

function tooLarge(maxBytes: number): KilnError {
  return new KilnError('KILN_SERVE_PAYLOAD_TOO_LARGE', `Request body is larger than the limit of ${maxBytes} bytes (max_request_size).`, {
    details: { maxBytes },
  });
}

/** Options of {@link decodeInferenceInput}. */
export interface DecodeInputOptions {
  /**
   * TorchServe's `decode_input_request`: parse `application/json` to a value and turn `text/*`
   * into a string. When false every body or file part stays bytes.
   * @defaultValue true in TorchServe's config; callers pass the resolved value
   */
  readonly decodeInputRequest: boolean;
}

/**
 * Decodes a read body into one request's handler input, as TorchServe does:
 * a raw body → `{ body: Uint8Array }`; `application/json` → `{ body: <parsed> }` and `text/*` →
 * `{ body: string }` (both only when `decodeInputRequest`); `multipart/form-data` and
 * `application/x-www-form-urlencoded` → one key per field (a repeated field: the last wins).
 * Multipart file parts are bytes unless their own type is JSON or text (same rule as above);
 * plain fields are strings. Malformed JSON or multipart → KILN_SERVE_BAD_REQUEST (400).
 * The record has no prototype, so a field named `__proto__` is a plain key, not a pollution.
 * @example const input = await decodeInferenceInput(req, body, { decodeInputRequest: true });
 */
export async function decodeInferenceInput(
  req: IncomingMessage,
  body: Buffer,
  options: DecodeInputOptions,
): Promise<Record<string, unknown>> {
  const media = mediaType(req.headers['content-type']);
  if (media === 'multipart/form-data') return decodeMultipart(req.headers, body, options);
  if (media === 'application/x-www-form-urlencoded') return fromEntries(new URLSearchParams(body.toString('utf8')));
  const input = emptyRecord();
  input['body'] = decodeValue(media, body, options, 'body');
  return input;
}

/**
 * The query string of a request target as a record, percent-decoded, `+` read as a space, the
 * last of a repeated name winning (the same rule as form fields). The record has no prototype,
 * so names such as `__proto__` are plain keys.
 * @example parseQuery('/invocations?model_name=noop') // { model_name: 'noop' }
 */
export function parseQuery(url: string): Record<string, string> {
  const start = url.indexOf('?');
  if (start < 0) return emptyRecord();
  const hash = url.indexOf('#', start);
  return fromEntries(new URLSearchParams(url.slice(start + 1, hash < 0 ? undefined : hash)));
}

/** The lower-cased media type of a Content-Type header, without parameters; '' when absent. */
function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

function decodeValue(media: string, bytes: Buffer, options: DecodeInputOptions, name: string): unknown {
  if (options.decodeInputRequest) {
    if (media === 'application/json') return parseJson(bytes.toString('utf8'), name);
    if (media.startsWith('text/')) return bytes.toString('utf8');
  }
  return ownedBytes(bytes);
}

function parseJson(text: string, name: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new KilnError('KILN_SERVE_BAD_REQUEST', `Invalid JSON in "${name}": ${describeError(error)}`, { cause: error });
  }
}

/**
 * A plain Uint8Array over memory of its own. Node's small Buffers are slices of a shared pool;
 * handing one to a handler would expose (or, if transferred to a worker, detach) the whole pool.
 */
function ownedBytes(bytes: Buffer): Uint8Array {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
  return whole ? new Uint8Array(bytes.buffer) : new Uint8Array(bytes);
}

function decodeMultipart(headers: IncomingHttpHeaders, body: Buffer, options: DecodeInputOptions): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    // Parts finish out of order (a file's 'end' is async), so "last wins" goes by part order.
    const latest = new Map<string, { order: number; value: unknown }>();
    let parts = 0;
    const keep = (name: string, order: number, value: unknown): void => {
      const seen = latest.get(name);
      if (seen === undefined || seen.order < order) latest.set(name, { order, value });
    };
    const badRequest = (error: unknown): void => {
      reject(error instanceof KilnError ? error : new KilnError('KILN_SERVE_BAD_REQUEST', `Malformed multipart body: ${describeError(error)}`, { cause: error }));
    };

    let parser: busboy.Busboy;
    try {
      // The body is already capped by readBody, so busboy's own 1 MB field cap would only truncate.
      parser = busboy({ headers, limits: { fieldSize: Infinity, fieldNameSize: 1024 } });
    } catch (error) {
      badRequest(error);
      return;
    }
    parser.on('field', (name, value, info) => {
      const order = parts++;
      try {
        const json = options.decodeInputRequest && mediaType(info.mimeType) === 'application/json';
        keep(name, order, json ? parseJson(value, name) : value);
      } catch (error) {
        badRequest(error);
      }
    });
    parser.on('file', (name, stream, info) => {
      const order = parts++;
      const chunks: Buffer[] = [];
      // A body that stops mid-part errors this stream as well as the parser; an 'error' with no
      // listener would be thrown from the event loop and end the process.
      stream.on('error', badRequest);
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        try {
          keep(name, order, decodeValue(mediaType(info.mimeType), Buffer.concat(chunks), options, name));
        } catch (error) {
          badRequest(error);
        }
      });
    });
    parser.on('error', badRequest);
    parser.on('close', () => {
      const input = emptyRecord();
      for (const [name, { value }] of latest) input[name] = value;
      resolve(input);
    });
    parser.end(body);
  });
}

function fromEntries(params: URLSearchParams): Record<string, string> {
  const record: Record<string, string> = emptyRecord();
  for (const [name, value] of params) record[name] = value;
  return record;
}

function emptyRecord<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}
