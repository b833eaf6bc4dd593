import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { KilnError } from '../../core/errors.js';
import { createListener } from './listener.js';
import {
  Router,
  clientErrorOf,
  decodeInferenceInput,
  parseQuery,
  readBody,
  route,
  sendBody,
  sendError,
  sendJson,
  sendStatus,
  type CorsConfig,
  type ResponseContext,
} from './index.js';

interface ServerOptions {
  readonly maxBytes?: number;
  readonly decodeInputRequest?: boolean;
  readonly cors?: CorsConfig;
  readonly timeoutMs?: number;
}

/** How the test server reports a decoded input: bytes, strings and JSON values told apart. */
function describeInput(input: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(input)) {
    if (value instanceof Uint8Array) out[name] = { bytes: [...value], plain: value.constructor === Uint8Array };
    else if (typeof value === 'string') out[name] = { text: value };
    else out[name] = { json: value };
  }
  return out;
}

function testRouter(options: ServerOptions): Router<ResponseContext> {
  return new Router<ResponseContext>([
    route('OPTIONS', '/', (_req, res, _params, ctx) => sendJson(res, 200, { openapi: '3.0.1' }, ctx)),
    route('GET', '/ping', (_req, res, _params, ctx) => sendStatus(res, 200, 'Healthy', ctx)),
    route('GET', '/boom', () => {
      throw new Error('secret detail at /srv/kiln/internal.ts:42');
    }),
    route('GET', '/raw', (_req, res, _params, ctx) => {
      sendBody(res, 201, 'hi', { headers: { 'X-Custom': 'yes', 'Content-Length': '999', 'Cache-Control': 'max-age=5' }, phrase: 'Made It' }, ctx);
    }),
    route('GET', '/nulls', (_req, res, _params, ctx) => sendJson(res, 200, { a: null, b: [1, null], c: { d: null, e: 'x' } }, ctx)),
    route(['POST', 'PUT', 'GET'], '/predictions/:model/:version?/*rest', async (req, res, params, ctx) => {
      // Params are typed from the pattern: model is a string, version and rest may be absent.
      const named: { model: string; version?: string; rest?: string } = params;
      const body = await readBody(req, { maxBytes: options.maxBytes ?? 1024, ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) });
      const input = await decodeInferenceInput(req, body, { decodeInputRequest: options.decodeInputRequest ?? true });
      sendJson(res, 200, { params: { ...named }, input: describeInput(input) }, ctx);
    }),
  ]);
}

async function startServer(options: ServerOptions = {}): Promise<{ base: string; port: number; server: Server }> {
  const router = testRouter(options);
  const server = createServer((req, res) => {
    const ctx: ResponseContext = { requestId: randomUUID(), ...(options.cors === undefined ? {} : { cors: options.cors }) };
    router.dispatch(req, res, ctx).catch((error: unknown) => sendError(res, error, ctx));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { base: `http://127.0.0.1:${address.port}`, port: address.port, server };
}

function stopServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

interface RawResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** Milliseconds from the first byte written to the server closing the connection. */
  readonly elapsedMs: number;
}

/**
 * Writes `head` (and `body`, without ending our side) on a raw socket and resolves once the
 * server closes the connection; rejects if it does not within `limitMs`.
 */
function rawExchange(port: number, head: string, body: Buffer | string = '', limitMs = 2000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const started = Date.now();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close from the server within ${limitMs} ms`));
    }, limitMs);
    socket.on('connect', () => socket.write(Buffer.concat([Buffer.from(head), Buffer.from(body)])));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const lines = text.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(lines[0]?.split(' ')[1]), headers, body: text.slice(split + 4), elapsedMs: Date.now() - started });
    });
  });
}

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const NOT_FOUND_BODY = `{
  "code": 404,
  "type": "ResourceNotFoundException",
  "message": "Requested resource is not found, please refer to API document."
}
`;
const NOT_ALLOWED_BODY = `{
  "code": 405,
  "type": "MethodNotAllowedException",
  "message": "Requested method is not allowed, please refer to API document."
}
`;

describe('HTTP layer against a real server', () => {
  let base = '';
  let port = 0;
  let server: Server;
  before(async () => ({ base, port, server } = await startServer({ maxBytes: 1024 })));
  after(() => stopServer(server));

  async function predict(init: RequestInit, path = '/predictions/noop'): Promise<Record<string, unknown>> {
    const response = await fetch(base + path, init);
    assert.equal(response.status, 200, await response.clone().text());
    return ((await response.json()) as { input: Record<string, unknown> }).input;
  }

  test('raw body, POST or PUT, without or with an unknown type → { body: Uint8Array }', async () => {
    const bytes = new Uint8Array([0, 1, 2, 254, 255]);
    const expected = { body: { bytes: [0, 1, 2, 254, 255], plain: true } };
    assert.deepEqual(await predict({ method: 'POST', body: bytes }), expected);
    assert.deepEqual(await predict({ method: 'PUT', body: bytes, headers: { 'content-type': 'image/png' } }), expected);
    assert.deepEqual(await predict({ method: 'GET' }), { body: { bytes: [], plain: true } });
  });

  test('application/json → parsed body; text/* → string', async () => {
    assert.deepEqual(await predict({ method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json; charset=utf-8' } }), {
      body: { json: { a: 1 } },
    });
    assert.deepEqual(await predict({ method: 'POST', body: 'héllo', headers: { 'content-type': 'text/plain' } }), { body: { text: 'héllo' } });
  });

  test('multipart: file bytes, a JSON part parsed, a text file as string, a repeated field: last wins', async () => {
    const boundary = 'kilnBoundary42';
    const part = (headers: string, content: string | Buffer): Buffer =>
      Buffer.concat([Buffer.from(`--${boundary}\r\n${headers}\r\n\r\n`), Buffer.from(content), Buffer.from('\r\n')]);
    const body = Buffer.concat([
      part('Content-Disposition: form-data; name="data"; filename="x.bin"\r\nContent-Type: application/octet-stream', Buffer.from([9, 0, 255])),
      part('Content-Disposition: form-data; name="meta"\r\nContent-Type: application/json', '{"k":[1,2]}'),
      part('Content-Disposition: form-data; name="note"; filename="n.txt"\r\nContent-Type: text/plain', 'a note'),
      part('Content-Disposition: form-data; name="x"', 'first'),
      part('Content-Disposition: form-data; name="x"; filename="x.bin"', 'second'),
      part('Content-Disposition: form-data; name="x"', 'third'),
      Buffer.from(`--${boundary}--\r\n`),
    ]);
    const input = await predict({ method: 'POST', body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
    assert.deepEqual(input, {
      data: { bytes: [9, 0, 255], plain: true },
      meta: { json: { k: [1, 2] } },
      note: { text: 'a note' },
      x: { text: 'third' },
    });
  });

  test('multipart from fetch FormData (curl -F data=@x) → { data: Uint8Array }', async () => {
    const form = new FormData();
    form.append('data', new Blob([new Uint8Array([1, 2, 3])]), 'x.jpg');
    assert.deepEqual(await predict({ method: 'POST', body: form }), { data: { bytes: [1, 2, 3], plain: true } });
  });

  test('x-www-form-urlencoded → one string per field, the last repeated one winning', async () => {
    const input = await predict({ method: 'POST', body: 'a=1&b=two+words&a=3&c=%E2%9C%93', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.deepEqual(input, { a: { text: '3' }, b: { text: 'two words' }, c: { text: '✓' } });
  });

  test('malformed JSON (body or multipart part) → 400 with the TorchServe error shape', async () => {
    const response = await fetch(`${base}/predictions/noop`, { method: 'POST', body: '{"a":', headers: { 'content-type': 'application/json' } });
    assert.equal(response.status, 400);
    assert.equal(response.headers.get('content-type'), 'application/json');
    const body = (await response.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body), ['code', 'type', 'message']);
    assert.equal(body['code'], 400);
    assert.equal(body['type'], 'BadRequestException');
    assert.match(String(body['message']), /Invalid JSON in "body"/);

    const multipart = `--b\r\nContent-Disposition: form-data; name="meta"\r\nContent-Type: application/json\r\n\r\nnot json\r\n--b--\r\n`;
    const bad = await fetch(`${base}/predictions/noop`, { method: 'POST', body: multipart, headers: { 'content-type': 'multipart/form-data; boundary=b' } });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { message: string }).message, /"meta"/);

    const noBoundary = await fetch(`${base}/predictions/noop`, { method: 'POST', body: 'x', headers: { 'content-type': 'multipart/form-data' } });
    assert.equal(noBoundary.status, 400);
  });

  test('a multipart body that stops mid-part → 400, with no uncaught error from the file stream', async () => {
    const truncated = '--X\r\nContent-Disposition: form-data; name="data"; filename="a.jpg"\r\n\r\nabc';
    const response = await fetch(`${base}/predictions/noop`, { method: 'POST', body: truncated, headers: { 'content-type': 'multipart/form-data; boundary=X' } });
    assert.equal(response.status, 400);
    assert.match(((await response.json()) as { message: string }).message, /^Malformed multipart body/);
    // Give an unhandled 'error' event the turn it would need to end this process.
    await new Promise((done) => setImmediate(done));
    assert.equal((await fetch(`${base}/ping`)).status, 200);
  });

  test('Content-Length over the limit → 413 ErrorResponse at once, before the body is sent; the server still serves', async () => {
    const head = 'POST /predictions/noop HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000000\r\n\r\n';
    const reply = await rawExchange(port, head, 'abcde');
    assert.equal(reply.status, 413);
    assert.equal(reply.headers['connection'], 'close');
    assert.ok(reply.elapsedMs < 1000, `answered after ${reply.elapsedMs} ms`);
    const body = JSON.parse(reply.body) as Record<string, unknown>;
    assert.equal(body['code'], 413);
    assert.equal(body['type'], 'BadRequestException');
    assert.match(String(body['message']), /limit of 1024 bytes/);
    assert.equal(Number(reply.headers['content-length']), Buffer.byteLength(reply.body));
    assert.equal((await fetch(`${base}/ping`)).status, 200);
  });

  test('chunked body passing the limit → 413', async () => {
    const chunk = 'x'.repeat(600);
    const head = 'POST /predictions/noop HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n';
    const chunks = `258\r\n${chunk}\r\n258\r\n${chunk}\r\n258\r\n${chunk}\r\n`;
    const reply = await rawExchange(port, head, chunks);
    assert.equal(reply.status, 413);
    assert.equal(reply.headers['connection'], 'close');

    // The same through fetch with a streamed body, which has no Content-Length.
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 3; i += 1) controller.enqueue(new Uint8Array(600));
        controller.close();
      },
    });
    const response = await fetch(`${base}/predictions/noop`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    assert.equal(response.status, 413);
    assert.equal(((await response.json()) as { code: number }).code, 413);

    const ok = await predict({ method: 'POST', body: new Uint8Array(1024) });
    assert.equal((ok['body'] as { bytes: number[] }).bytes.length, 1024);
  });

  test('success responses carry the wire headers and keep the connection', async () => {
    const response = await fetch(`${base}/ping`);
    const text = await response.text();
    assert.equal(text, '{\n  "status": "Healthy"\n}\n');
    assert.match(response.headers.get('x-request-id') ?? '', UUID_V4);
    assert.equal(response.headers.get('pragma'), 'no-cache');
    assert.equal(response.headers.get('cache-control'), 'no-cache; no-store, must-revalidate, private');
    assert.equal(response.headers.get('expires'), 'Thu, 01 Jan 1970 00:00:00 UTC');
    assert.equal(response.headers.get('content-length'), String(Buffer.byteLength(text)));
    assert.equal(response.headers.get('content-type'), 'application/json');
    assert.equal(response.headers.get('access-control-allow-origin'), null);
    assert.equal(response.headers.get('connection'), 'keep-alive');
  });

  test('errors carry the wire headers and Connection: close, and the server closes the socket', async () => {
    const reply = await rawExchange(port, 'GET /foo HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
    assert.equal(reply.status, 404);
    assert.equal(reply.headers['connection'], 'close');
    assert.match(reply.headers['x-request-id'] ?? '', UUID_V4);
    assert.equal(reply.headers['pragma'], 'no-cache');
    assert.equal(reply.headers['cache-control'], 'no-cache; no-store, must-revalidate, private');
    assert.equal(reply.headers['expires'], 'Thu, 01 Jan 1970 00:00:00 UTC');
    assert.equal(reply.body, NOT_FOUND_BODY);
  });

  test('router: unknown path → 404, known path with a wrong method → 405, bodies exactly as TorchServe', async () => {
    for (const path of ['/foo', '/predictions', '/ping/extra']) {
      const response = await fetch(base + path);
      assert.equal(response.status, 404, path);
      assert.equal(await response.text(), NOT_FOUND_BODY);
    }
    const root = await fetch(`${base}/`);
    assert.equal(root.status, 405);
    assert.equal(await root.text(), NOT_ALLOWED_BODY);
    assert.equal((await fetch(`${base}/ping`, { method: 'DELETE' })).status, 405);
    assert.equal((await fetch(`${base}/`, { method: 'OPTIONS' })).status, 200);
    assert.equal((await fetch(`${base}/ping`, { method: 'OPTIONS' })).status, 405);
  });

  test('path params reach the handler percent-decoded; a version and extra segments are optional', async () => {
    const get = async (path: string): Promise<unknown> => {
      const response = await fetch(base + path);
      return ((await response.json()) as { params: unknown }).params;
    };
    assert.deepEqual(await get('/predictions/noop'), { model: 'noop' });
    assert.deepEqual(await get('/predictions/my%20model/1.0/a/b%2Fc'), { model: 'my model', version: '1.0', rest: 'a/b/c' });
    assert.equal((await fetch(`${base}/predictions/a%2Fb`)).status, 404);
    assert.equal((await fetch(`${base}/predictions/%E0%A4%A`)).status, 400);
  });

  test('an unexpected error → 500 InternalServerException with a generic message, never the cause', async () => {
    const response = await fetch(`${base}/boom`);
    assert.equal(response.status, 500);
    const body = (await response.json()) as Record<string, unknown>;
    assert.equal(body['type'], 'InternalServerException');
    assert.equal(body['code'], 500);
    assert.doesNotMatch(String(body['message']), /secret|internal\.ts|at /);
    assert.match(String(body['message']), new RegExp(response.headers.get('x-request-id') ?? 'missing'));
  });

  test('sendBody: status phrase and handler headers kept, framing headers not replaceable, no default Content-Type', async () => {
    const reply = await rawExchange(port, 'GET /raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(reply.status, 201);
    assert.equal(reply.body, 'hi');
    assert.equal(reply.headers['content-length'], '2');
    assert.equal(reply.headers['x-custom'], 'yes');
    assert.equal(reply.headers['cache-control'], 'max-age=5');
    assert.equal(reply.headers['content-type'], undefined);
    const statusLine = await rawStatusLine(port, 'GET /raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(statusLine, 'HTTP/1.1 201 Made It');
  });

  test('sendJson drops null object fields (Gson) but keeps null array items', async () => {
    const response = await fetch(`${base}/nulls`);
    assert.deepEqual(await response.json(), { b: [1, null], c: { e: 'x' } });
  });
});

async function rawStatusLine(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(head));
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve(text.split('\r\n', 1)[0] ?? ''));
  });
}

describe('server options', () => {
  test('CORS headers on every response, errors included', async () => {
    const { base, server } = await startServer({ cors: { origin: '*', methods: 'GET, POST', headers: 'X-Custom' } });
    try {
      for (const [path, status] of [['/ping', 200], ['/foo', 404], ['/', 405], ['/boom', 500]] as const) {
        const response = await fetch(base + path);
        await response.arrayBuffer();
        assert.equal(response.status, status);
        assert.equal(response.headers.get('access-control-allow-origin'), '*', path);
        assert.equal(response.headers.get('access-control-allow-methods'), 'GET, POST', path);
        assert.equal(response.headers.get('access-control-allow-headers'), 'X-Custom', path);
      }
      const tooLarge = await fetch(`${base}/predictions/noop`, { method: 'POST', body: new Uint8Array(2000) });
      assert.equal(tooLarge.status, 413);
      assert.equal(tooLarge.headers.get('access-control-allow-origin'), '*');
    } finally {
      await stopServer(server);
    }
  });

  test('decodeInputRequest false keeps JSON and text bodies as bytes', async () => {
    const { base, server } = await startServer({ decodeInputRequest: false });
    try {
      for (const type of ['application/json', 'text/plain']) {
        const response = await fetch(`${base}/predictions/noop`, { method: 'POST', body: '{}', headers: { 'content-type': type } });
        const { input } = (await response.json()) as { input: unknown };
        assert.deepEqual(input, { body: { bytes: [123, 125], plain: true } }, type);
      }
    } finally {
      await stopServer(server);
    }
  });

  test('a body that does not arrive within timeoutMs → 408 RequestTimeoutException', async () => {
    const { port, server } = await startServer({ timeoutMs: 100 });
    try {
      const reply = await rawExchange(port, 'POST /predictions/noop HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n', 'ab');
      assert.equal(reply.status, 408);
      assert.equal((JSON.parse(reply.body) as { type: string }).type, 'RequestTimeoutException');
    } finally {
      await stopServer(server);
    }
  });
});

describe('createListener', () => {
  test('a request that does not arrive in time → 408 JSON from clientError, not a bare status line', async () => {
    const server = createListener(() => assert.fail('no request reaches the handler'), { maxRequestSize: () => 1024, context: () => ({ requestId: randomUUID() }) });
    // Short limits, checked often, so the test does not wait the real 30 s.
    server.headersTimeout = 100;
    server.requestTimeout = 150;
    (server as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = 50;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const reply = await rawExchange(port, 'GET /ping HTTP/1.1\r\nHost: x\r\n', '', 5000);
      assert.equal(reply.status, 408);
      assert.equal(reply.headers['content-type'], 'application/json');
      assert.deepEqual(JSON.parse(reply.body), { code: 408, type: 'RequestTimeoutException', message: 'The request did not arrive in time.' });
    } finally {
      await stopServer(server);
    }
  });

  test('clientErrorOf maps Node codes: 431, 408, 413, else 400 naming the reason', () => {
    const of = (code: string, reason?: string) => clientErrorOf(Object.assign(new Error('Parse Error'), { code, ...(reason ? { reason } : {}) }));
    assert.equal(of('HPE_HEADER_OVERFLOW').code, 'KILN_SERVE_HEADERS_TOO_LARGE');
    assert.equal(of('ERR_HTTP_REQUEST_TIMEOUT').code, 'KILN_SERVE_REQUEST_TIMEOUT');
    assert.equal(of('HPE_CHUNK_EXTENSIONS_OVERFLOW').code, 'KILN_SERVE_PAYLOAD_TOO_LARGE');
    assert.equal(of('HPE_INVALID_METHOD', 'Invalid method encountered').message, 'The request is not valid HTTP/1.1 (Invalid method encountered).');
  });
});

describe('router and helpers without a server', () => {
  const noop = (): void => undefined;
  const router = new Router<unknown>([
    route('*', '/any/:id', noop),
    route('GET', '/models/:model/:version?', noop),
    route('post', '/wfpredict/:workflow', noop),
  ]);

  test('matching: methods, optional params, trailing slash, encoded literals, absolute-form targets', () => {
    assert.deepEqual({ ...router.match('PATCH', '/any/7').params }, { id: '7' });
    assert.deepEqual({ ...router.match('GET', '/models/noop/').params }, { model: 'noop' });
    assert.deepEqual({ ...router.match('GET', '/models/noop/2.0?x=1').params }, { model: 'noop', version: '2.0' });
    assert.deepEqual({ ...router.match('GET', '/m%6Fdels/noop').params }, { model: 'noop' });
    assert.deepEqual({ ...router.match('POST', 'http://localhost:8080/wfpredict/w').params }, { workflow: 'w' });
    assert.deepEqual({ ...router.match('get', '/models/__proto__').params }, { model: '__proto__' });
  });

  test('refusals: 404 for unknown paths, empty or slash-holding params; 405 for a wrong method', () => {
    const codeOf = (method: string, url: string): string => {
      try {
        router.match(method, url);
        return 'matched';
      } catch (error) {
        assert.ok(error instanceof KilnError);
        return error.code;
      }
    };
    assert.equal(codeOf('GET', '/models'), 'KILN_SERVE_RESOURCE_NOT_FOUND');
    assert.equal(codeOf('GET', '/models//1.0'), 'KILN_SERVE_RESOURCE_NOT_FOUND');
    assert.equal(codeOf('GET', '/models/a%2Fb'), 'KILN_SERVE_RESOURCE_NOT_FOUND');
    assert.equal(codeOf('GET', '/models/a/1/extra'), 'KILN_SERVE_RESOURCE_NOT_FOUND');
    assert.equal(codeOf('DELETE', '/models/a'), 'KILN_SERVE_METHOD_NOT_ALLOWED');
    assert.equal(codeOf('GET', '/wfpredict/w'), 'KILN_SERVE_METHOD_NOT_ALLOWED');
    assert.equal(codeOf('GET', '/models/%zz'), 'KILN_SERVE_BAD_REQUEST');
  });

  test('bad patterns are refused when the router is built', () => {
    assert.throws(() => new Router([route('GET', '/a/*rest/b', noop)]), /must be last/);
    assert.throws(() => new Router([route('GET', '/a/:', noop)]), /bad parameter/);
  });

  test('parseQuery decodes, reads + as space, last wins, and has no prototype', () => {
    const query = parseQuery('/invocations?model_name=noop&x=a+b&x=%C3%A9&__proto__=p#frag');
    assert.deepEqual(Object.entries(query), [['model_name', 'noop'], ['x', 'é'], ['__proto__', 'p']]);
    assert.equal(Object.getPrototypeOf(query), null);
    assert.deepEqual({ ...parseQuery('/ping') }, {});
  });
});
