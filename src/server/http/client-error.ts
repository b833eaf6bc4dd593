/**
 * Answers for bytes Node's HTTP parser refuses before any route sees them (the server's
 * `clientError` event): malformed request lines or headers, bad framing, headers over the size
 * limit, slow clients. Node's own answer is a bare status line with no body; kiln's is a whole
 * HTTP/1.1 response with TorchServe's error JSON, as every other error is.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { KilnError, type ErrorCode } from '../../core/errors.js';
import { errorBody, toJson, wireHeaders, type ResponseContext } from './response.js';

/** How long a refused connection may stay open for its client to read the answer. */
const LINGER_MS = 5_000;

/** Sockets already answered: a parser in error may report each further chunk again. */
const answered = new WeakSet<Duplex>();

/** Node's parser and timeout errors carry a code (`HPE_*`, `ERR_HTTP_REQUEST_TIMEOUT`) and sometimes a reason. */
type ClientError = Error & { readonly code?: string; readonly reason?: string };

/**
 * The error a parser failure stands for: 431 for headers over the limit, 408 for a request that
 * did not arrive in time, 413 for oversize chunk extensions, 400 for anything else.
 * @example clientErrorOf(Object.assign(new Error('x'), { code: 'HPE_HEADER_OVERFLOW' })).code // 'KILN_SERVE_HEADERS_TOO_LARGE'
 */
export function clientErrorOf(error: ClientError): KilnError {
  const known: Readonly<Record<string, [ErrorCode, string]>> = {
    HPE_HEADER_OVERFLOW: ['KILN_SERVE_HEADERS_TOO_LARGE', 'The request headers are larger than the server accepts.'],
    ERR_HTTP_REQUEST_TIMEOUT: ['KILN_SERVE_REQUEST_TIMEOUT', 'The request did not arrive in time.'],
    HPE_CHUNK_EXTENSIONS_OVERFLOW: ['KILN_SERVE_PAYLOAD_TOO_LARGE', 'The chunk extensions of the request body are too large.'],
  };
  const [code, message] = known[error.code ?? ''] ?? ['KILN_SERVE_BAD_REQUEST', `The request is not valid HTTP/1.1 (${error.reason ?? error.code ?? error.message}).`];
  return new KilnError(code, message, { cause: error });
}

/**
 * The `clientError` listener: writes the JSON error on `socket`, half-closes it and destroys it
 * once the client has read the answer and closed its side (or after {@link LINGER_MS}). Writes
 * nothing when the client is gone (ECONNRESET, socket not writable) or when a response on this
 * connection has already started, since bytes written then would corrupt it.
 * @example server.on('clientError', (error, socket) => answerClientError(error, socket, () => ({ requestId: randomUUID() })));
 */
export function answerClientError(error: ClientError, socket: Duplex, context: () => ResponseContext): void {
  if (answered.has(socket)) return;
  answered.add(socket);
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  writeRawError(socket, clientErrorOf(error), context());
}

/**
 * Writes a whole HTTP/1.1 error response straight to a socket no ServerResponse owns (a parser
 * error, a CONNECT request), then half-closes it and destroys it once the client has closed its
 * side, or after {@link LINGER_MS}.
 * @example writeRawError(socket, methodNotAllowed(), { requestId: randomUUID() });
 */
export function writeRawError(socket: Duplex, error: KilnError, ctx: ResponseContext): void {
  const fields = errorBody(error, ctx);
  const body = Buffer.from(toJson(fields), 'utf8');
  const headers = [...wireHeaders(fields.code, body.byteLength, ctx), ['Content-Type', 'application/json']];
  const head = `HTTP/1.1 ${fields.code} ${STATUS_CODES[fields.code] ?? 'Error'}\r\n${headers.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`;
  // Half-close rather than destroy: destroying with unread input sends a reset, which can make
  // the client drop the answer before reading it. The parser keeps reading (and refusing) input.
  socket.on('error', () => socket.destroy());
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
}
