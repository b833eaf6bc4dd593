/**
 * One HTTP(S) listener with kiln's edge rules, so that no answer bypasses the documented JSON:
 * Node's parser errors ({@link answerClientError}), a missing Host header, `Expect` other than
 * 100-continue and CONNECT all get TorchServe's error body instead of Node's bare status line
 * (or a silently closed socket); oversize bodies announced with `Expect: 100-continue` are
 * refused before the client sends them; slow clients and connection floods are bounded.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { KilnError } from '../../core/errors.js';
import { answerClientError, writeRawError } from './client-error.js';
import { methodNotAllowed, sendError, type ResponseContext } from './response.js';

/** Slow clients: headers within 30 s, a whole request within 120 s. */
const HEADERS_TIMEOUT_MS = 30_000;
const REQUEST_TIMEOUT_MS = 120_000;
const MAX_CONNECTIONS = 4096;

/** Options of {@link createListener}. */
export interface ListenerOptions {
  /** Key and certificate (or pfx) for https; absent for plain http. */
  readonly tls?: { key?: Buffer; cert?: Buffer; pfx?: Buffer; passphrase?: string };
  /** The largest body accepted (`max_request_size`), read when a request arrives. */
  readonly maxRequestSize: () => number;
  /** A fresh request id and the CORS headers, for answers given outside the request handler. */
  readonly context: () => ResponseContext;
}

/**
 * Creates (does not start) a listener that passes every well-formed request to `handler`.
 * @example const server = createListener(handle, { maxRequestSize: () => 6_553_500, context: () => ({ requestId: randomUUID() }) });
 */
export function createListener(handler: (req: IncomingMessage, res: ServerResponse) => void, options: ListenerOptions): Server {
  // Node answers a missing Host with a bare 400; the handler checks it instead (see requireHost).
  const serverOptions: ServerOptions = { requireHostHeader: false };
  const server = options.tls ? createHttpsServer({ ...serverOptions, ...options.tls }, handler) : createHttpServer(serverOptions, handler);
  // `Expect: 100-continue` (curl's default for large bodies): refuse an oversize body before
  // the client sends it, instead of letting Node say "continue" first.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const max = options.maxRequestSize();
    if (Number(req.headers['content-length'] ?? 0) > max) {
      sendError(res, new KilnError('KILN_SERVE_PAYLOAD_TOO_LARGE', `Request body is larger than the limit of ${max} bytes (max_request_size).`), options.context());
      return;
    }
    res.writeContinue();
    handler(req, res);
  });
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    sendError(res, new KilnError('KILN_SERVE_EXPECTATION_FAILED', `Expectation "${String(req.headers.expect)}" is not supported; only 100-continue is.`), options.context());
  });
  // No route tunnels; without this listener Node would close the socket without a word.
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => writeRawError(socket, methodNotAllowed(), options.context()));
  server.on('clientError', (error: Error, socket: Duplex) => answerClientError(error, socket, options.context));
  // A client may half-close its side once its request is sent (`nc -N`, some HTTP/1.0 clients);
  // by default Node then aborts a request still being served and closes without an answer.
  // With this, the answer is sent first and the connection closed after it.
  (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.maxConnections = MAX_CONNECTIONS;
  return server;
}

/**
 * RFC 9112 §3.2: an HTTP/1.1 request without a Host header is a 400. Node would answer it with
 * a bare status line, so the listener leaves the check to the request handler.
 * @example requireHost(req); // throws KILN_SERVE_BAD_REQUEST
 */
export function requireHost(req: IncomingMessage): void {
  if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && req.headers.host === undefined) {
    throw new KilnError('KILN_SERVE_BAD_REQUEST', 'An HTTP/1.1 request needs a Host header.');
  }
}
