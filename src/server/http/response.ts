/**
 * Response writing with TorchServe's wire conventions (spec torchserve-api.md §2): every response
 * carries `x-request-id`, the no-cache trio and Content-Length, plus the configured CORS headers;
 * a status of 400 or more adds `Connection: close`, and Node closes the socket once it is sent.
 */
import type { ServerResponse } from 'node:http';
import { KilnError, httpStatusOf, isKilnError } from '../../core/errors.js';

/** The `cors_allowed_*` settings; each header is sent only when its value is set. */
export interface CorsConfig {
  /** `Access-Control-Allow-Origin` (`cors_allowed_origin`). */
  readonly origin?: string;
  /** `Access-Control-Allow-Methods` (`cors_allowed_methods`). */
  readonly methods?: string;
  /** `Access-Control-Allow-Headers` (`cors_allowed_headers`). */
  readonly headers?: string;
}

/** What every response needs to know about its request and server. */
export interface ResponseContext {
  /** The request's UUID v4, sent back as `x-request-id`. */
  readonly requestId: string;
  readonly cors?: CorsConfig;
}

/** Options of {@link sendBody}. */
export interface SendBodyOptions {
  /**
   * The Content-Type header.
   * @defaultValue none: TorchServe sends no Content-Type unless the handler set one
   */
  readonly contentType?: string;
  /** Extra headers (a handler's). They cannot replace the framing headers or `x-request-id`. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Reason phrase of the status line. @defaultValue Node's phrase for the status */
  readonly phrase?: string;
}

/** Headers a caller may not set: the server owns framing, connection reuse and the request id. */
const RESERVED_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'x-request-id']);

const JSON_TYPE = 'application/json';

/**
 * The TorchServe error for a path no route knows (404 ResourceNotFoundException).
 * @example throw notFound();
 */
export function notFound(): KilnError {
  return new KilnError('KILN_SERVE_RESOURCE_NOT_FOUND', 'Requested resource is not found, please refer to API document.');
}

/**
 * The TorchServe error for a known path asked with a method it does not take
 * (405 MethodNotAllowedException); also what a disabled model API answers.
 * @example throw methodNotAllowed();
 */
export function methodNotAllowed(): KilnError {
  return new KilnError('KILN_SERVE_METHOD_NOT_ALLOWED', 'Requested method is not allowed, please refer to API document.');
}

/**
 * Sends bytes (or a string, as UTF-8) as they are, with the wire headers.
 * @example sendBody(res, 200, png, { contentType: 'image/png' }, ctx);
 */
export function sendBody(
  res: ServerResponse,
  status: number,
  bytes: Uint8Array | string,
  options: SendBodyOptions,
  ctx: ResponseContext,
): void {
  const body = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  setWireHeaders(res, status, body.byteLength, ctx);
  // After the wire headers, so a handler may replace Cache-Control and the like, but not framing.
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (!RESERVED_HEADERS.has(name.toLowerCase())) res.setHeader(name, value);
  }
  if (options.contentType !== undefined) res.setHeader('Content-Type', options.contentType);
  if (options.phrase === undefined) res.writeHead(status);
  else res.writeHead(status, options.phrase);
  res.end(body);
}

/**
 * Starts a streamed response: the status line and headers now, with chunked framing; the caller
 * then writes chunks with `res.write` and finishes with `res.end`.
 * @example startStream(res, 200, { headers }, ctx); res.write(part); res.end(last);
 */
export function startStream(res: ServerResponse, status: number, options: SendBodyOptions, ctx: ResponseContext): void {
  setWireHeaders(res, status, undefined, ctx);
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (!RESERVED_HEADERS.has(name.toLowerCase())) res.setHeader(name, value);
  }
  if (options.contentType !== undefined) res.setHeader('Content-Type', options.contentType);
  if (options.phrase === undefined) res.writeHead(status);
  else res.writeHead(status, options.phrase);
}

/**
 * Sends a value as TorchServe's JSON: 2-space indent, a trailing newline, `application/json`,
 * and null object fields left out (Gson's default). Handler outputs, which keep their nulls,
 * go through {@link sendBody} instead.
 * @example sendJson(res, 200, { models: [] }, ctx);
 */
export function sendJson(res: ServerResponse, status: number, value: unknown, ctx: ResponseContext): void {
  sendBody(res, status, toJson(value), { contentType: JSON_TYPE }, ctx);
}

/**
 * Sends TorchServe's status body `{"status": text}`.
 * @example sendStatus(res, 200, 'Healthy', ctx);
 */
export function sendStatus(res: ServerResponse, status: number, text: string, ctx: ResponseContext): void {
  sendJson(res, status, { status: text }, ctx);
}

/**
 * Sends any thrown value as TorchServe's error body `{code, type, message}`. A KilnError gives
 * its status ({@link httpStatusOf}), wire type and message; anything else becomes a 500
 * InternalServerException with a generic message (the cause belongs in the log, never on the
 * wire). When the response has already started it cannot change, so the socket is destroyed and
 * the client sees a cut-off response rather than a silently truncated one.
 * @example try { await route(req, res) } catch (error) { log.error(error); sendError(res, error, ctx) }
 */
export function sendError(res: ServerResponse, error: unknown, ctx: ResponseContext): void {
  if (res.headersSent || res.writableEnded) {
    res.destroy();
    return;
  }
  // Headers set by the attempt that failed (a handler's Content-Type) do not describe this body.
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  const { code, type, message } = errorBody(error, ctx);
  sendJson(res, code, { code, type, message }, ctx);
}

/**
 * TorchServe's error fields for any thrown value: a KilnError's status, wire type and message,
 * or a generic 500 whose cause stays in the log.
 */
export function errorBody(error: unknown, ctx: ResponseContext): { code: number; type: string; message: string } {
  if (!isKilnError(error)) {
    return { code: 500, type: 'InternalServerException', message: `Internal server error; see the server log for request ${ctx.requestId}.` };
  }
  const status = httpStatusOf(error);
  const code = Number.isInteger(status) && status >= 400 && status <= 599 ? status : 500;
  return { code, type: error.wireType, message: error.message };
}

function setWireHeaders(res: ServerResponse, status: number, length: number | undefined, ctx: ResponseContext): void {
  for (const [name, value] of wireHeaders(status, length, ctx)) res.setHeader(name, value);
}

/**
 * The headers every response carries, in order: request id, the no-cache trio, the configured
 * CORS headers, Content-Length (absent for a streamed body, which Node then frames as chunked)
 * and, for a status of 400 or more, `Connection: close`.
 */
export function wireHeaders(status: number, length: number | undefined, ctx: ResponseContext): Array<[string, string | number]> {
  const headers: Array<[string, string | number]> = [
    ['x-request-id', ctx.requestId],
    ['Pragma', 'no-cache'],
    ['Cache-Control', 'no-cache; no-store, must-revalidate, private'],
    ['Expires', 'Thu, 01 Jan 1970 00:00:00 UTC'],
  ];
  const cors = ctx.cors;
  if (cors?.origin) headers.push(['Access-Control-Allow-Origin', cors.origin]);
  if (cors?.methods) headers.push(['Access-Control-Allow-Methods', cors.methods]);
  if (cors?.headers) headers.push(['Access-Control-Allow-Headers', cors.headers]);
  if (length !== undefined) headers.push(['Content-Length', length]);
  // Node sees this header, marks the response as the connection's last and closes the socket
  // after it is flushed.
  if (status >= 400) headers.push(['Connection', 'close']);
  return headers;
}

/** TorchServe's JSON text: JSON.stringify with 2 spaces and a newline, dropping null object fields (not array items). */
export function toJson(value: unknown): string {
  if (value === null || value === undefined) return 'null\n';
  return `${JSON.stringify(value, dropNullFields, 2) ?? 'null'}\n`;
}

function dropNullFields(this: unknown, _key: string, value: unknown): unknown {
  return value === null && !Array.isArray(this) ? undefined : value;
}
