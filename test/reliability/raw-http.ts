/**
 * A raw HTTP/1.1 client over `net`: writes exactly the bytes a test gives (malformed ones
 * included), optionally in slow chunks, and reads back the first response as sent, noting any
 * socket error (EPIPE, ECONNRESET) the client saw on the way.
 */
import { connect } from 'node:net';

/** What came back from the server. */
export interface RawReply {
  /** Status of the first response; 0 when none arrived. */
  readonly status: number;
  /** Its headers, names lower-cased (a repeated header: the last). */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** The code of the first socket error the client saw (EPIPE, ECONNRESET), if any. */
  readonly socketError?: string;
  /** True when the response was complete by its Content-Length (or the connection closed after it). */
  readonly complete: boolean;
}

/** Options of {@link rawExchange}. */
export interface RawOptions {
  /** Bytes written after `head`, in `chunkSize` pieces `delayMs` apart. @defaultValue none */
  readonly body?: Buffer;
  /** @defaultValue the whole body in one write */
  readonly chunkSize?: number;
  /** @defaultValue 0 */
  readonly delayMs?: number;
  /** Half-close after the last byte, so a truncated request ends. @defaultValue true */
  readonly halfClose?: boolean;
  /** Give up (resolve with what arrived) after this long. @defaultValue 10 000 */
  readonly timeoutMs?: number;
}

/** The port and host of an `http://host:port` base URL. */
export function endpoint(base: string): { host: string; port: number } {
  const url = new URL(base);
  return { host: url.hostname, port: Number(url.port) };
}

/**
 * Sends `head` (and `options.body`) to `base` and resolves with the first response once it is
 * complete by its Content-Length, or when the connection closes or the time is up.
 * @example const reply = await rawExchange(server.inference, Buffer.from('BLAH\r\n\r\n'));
 */
export function rawExchange(base: string, head: Buffer | string, options: RawOptions = {}): Promise<RawReply> {
  const { host, port } = endpoint(base);
  return new Promise((resolve) => {
    // allowHalfOpen: the server's FIN does not stop the client writing, as it does not stop curl.
    const socket = connect({ port, host, allowHalfOpen: true });
    const received: Buffer[] = [];
    let socketError: string | undefined;
    let settled = false;
    // Like curl or fetch, the client reads the answer only once it has sent its request: an
    // answer that arrives early is read after, if the connection still holds it.
    let sent = false;
    let answered = false;
    const finish = (complete: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...parseResponse(Buffer.concat(received), complete), ...(socketError ? { socketError } : {}) });
    };
    const timer = setTimeout(() => finish(false), options.timeoutMs ?? 10_000);
    socket.on('error', (error: NodeJS.ErrnoException) => {
      socketError ??= error.code ?? error.message;
    });
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      answered = parseResponse(Buffer.concat(received), false).complete;
      if (answered && sent) finish(true);
    });
    socket.on('close', () => finish(true));
    socket.on('connect', () =>
      void send().then(() => {
        sent = true;
        if (answered) finish(true);
      }),
    );

    async function send(): Promise<void> {
      socket.write(head);
      const body = options.body ?? Buffer.alloc(0);
      const size = options.chunkSize ?? Math.max(body.length, 1);
      for (let at = 0; at < body.length && !settled && !socket.destroyed && socketError === undefined; at += size) {
        if (options.delayMs) await new Promise((done) => setTimeout(done, options.delayMs));
        if (socket.destroyed) break;
        socket.write(body.subarray(at, at + size));
      }
      if ((options.halfClose ?? true) && !socket.destroyed && socket.writable) socket.end();
    }
  });
}

/** Splits bytes into status, headers and body; `complete` once the body has its declared length. */
function parseResponse(all: Buffer, closed: boolean): Omit<RawReply, 'socketError'> {
  // Interim 1xx answers (100 Continue) come before the response itself.
  let bytes = all;
  while (/^HTTP\/1\.[01] 1\d\d /.test(bytes.subarray(0, 13).toString('latin1')) && bytes.indexOf('\r\n\r\n') >= 0) bytes = bytes.subarray(bytes.indexOf('\r\n\r\n') + 4);
  const split = bytes.indexOf('\r\n\r\n');
  if (split < 0) return { status: 0, headers: {}, body: Buffer.alloc(0), complete: false };
  const lines = bytes.subarray(0, split).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
  const rest = bytes.subarray(split + 4);
  const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
  if (length === undefined) return { status, headers, body: rest, complete: closed };
  return { status, headers, body: rest.subarray(0, length), complete: rest.length >= length };
}
