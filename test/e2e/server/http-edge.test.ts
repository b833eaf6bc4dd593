/**
 * The HTTP edge of a real `kiln serve` (issue 11): a truncated multipart body is a 400, not a
 * dead server; Node's parser errors, unknown routes and wrong methods get the documented JSON
 * on every port; a request refused before its body was read still gets its answer while the
 * client is sending.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeNoopArchive } from '../../fixtures/archives.js';
import { rawExchange, type RawReply } from '../../reliability/raw-http.js';
import { call, startServer, type ServerUnderTest } from './harness.js';

const NOT_FOUND = { code: 404, type: 'ResourceNotFoundException', message: 'Requested resource is not found, please refer to API document.' };
const NOT_ALLOWED = { code: 405, type: 'MethodNotAllowedException', message: 'Requested method is not allowed, please refer to API document.' };

/** A complete JSON error answer: framing, wire headers, and TorchServe's (or OIP's) body. */
function assertJsonError(reply: RawReply, status: number, shape: 'torchserve' | 'oip' = 'torchserve'): Record<string, unknown> {
  assert.equal(reply.status, status, reply.body.toString());
  assert.ok(reply.complete, 'the whole body arrived');
  assert.equal(reply.headers['content-type'], 'application/json');
  assert.equal(reply.headers['connection'], 'close');
  assert.match(reply.headers['x-request-id'] ?? '', /^[0-9a-f-]{36}$/);
  const body = JSON.parse(reply.body.toString('utf8')) as Record<string, unknown>;
  if (shape === 'oip') assert.deepEqual(Object.keys(body), ['error']);
  else {
    assert.deepEqual(Object.keys(body), ['code', 'type', 'message']);
    assert.equal(body['code'], status);
  }
  return body;
}

const request = (method: string, path: string, headers: Record<string, string | number> = {}) =>
  `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;

describe('the HTTP edge of kiln serve', () => {
  let server: ServerUnderTest;
  before(async () => {
    server = await startServer();
    await writeNoopArchive(server.store);
    const registered = await call(`${server.management}/models?url=noop.mar&initial_workers=1&synchronous=true`, { method: 'POST' });
    assert.equal(registered.status, 200, registered.text);
  });
  after(async () => {
    assert.equal(server.process.exitCode, null, 'the server is still running');
    assert.equal(await server.stop(), 0);
  });

  test("Node's own refusals → a whole HTTP/1.1 answer with the JSON body: parser errors and no Host 400, 431 oversize headers, 417, CONNECT 405", async () => {
    for (const base of [server.inference, server.management, server.metrics]) {
      for (const bytes of ['BLAH\r\n\r\n', 'GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n', 'POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 'POST /ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n']) {
        const error = assertJsonError(await rawExchange(base, bytes), 400);
        assert.equal(error['type'], 'BadRequestException');
        assert.match(String(error['message']), /^The request is not valid HTTP\/1\.1 \(.+\)\.$/);
      }
      const noHost = assertJsonError(await rawExchange(base, 'GET /ping HTTP/1.1\r\n\r\n'), 400);
      assert.equal(noHost['message'], 'An HTTP/1.1 request needs a Host header.');
      assert.equal(assertJsonError(await rawExchange(base, request('GET', '/ping', { Expect: 'teapot' })), 417)['type'], 'BadRequestException');
      assert.deepEqual(assertJsonError(await rawExchange(base, 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n'), 405), NOT_ALLOWED);
      const huge = await rawExchange(base, request('GET', '/ping', { 'X-Filler': 'a'.repeat(20_000) }));
      assert.equal(assertJsonError(huge, 431)['type'], 'BadRequestException');
    }
  });

  test('unknown paths → 404 and wrong methods → 405 with the documented JSON on all three ports, and on /v2 as {"error"}', async () => {
    for (const base of [server.inference, server.management, server.metrics]) {
      assert.deepEqual(assertJsonError(await rawExchange(base, request('GET', '/no/such/route')), 404), NOT_FOUND);
      assert.deepEqual(assertJsonError(await rawExchange(base, request('GET', '/%2e%2e/%2e%2e/etc/passwd')), 404), NOT_FOUND);
    }
    assert.deepEqual(assertJsonError(await rawExchange(server.inference, request('DELETE', '/ping')), 405), NOT_ALLOWED);
    assert.deepEqual(assertJsonError(await rawExchange(server.management, request('PATCH', '/models')), 405), NOT_ALLOWED);
    assert.deepEqual(assertJsonError(await rawExchange(server.metrics, request('POST', '/metrics', { 'Content-Length': 0 })), 405), NOT_ALLOWED);
    assert.deepEqual(assertJsonError(await rawExchange(server.inference, request('GET', '/v2/no/such')), 404, 'oip'), { error: NOT_FOUND.message });
    assert.match(String(assertJsonError(await rawExchange(server.inference, request('DELETE', '/v2/models/noop/infer')), 405, 'oip')['error']), /not allowed/);
    // The body follows the route, however the target spells its path.
    for (const target of ['/%762/models/nope', 'http://127.0.0.1/v2/models/nope', '/v2/models/nope/']) {
      assert.deepEqual(assertJsonError(await rawExchange(server.inference, request('GET', target)), 404, 'oip'), { error: 'Model not found: nope' }, target);
    }
  });

  test('a refused request is answered after its body is read, so a client still sending gets the JSON, not EPIPE', async () => {
    const body = Buffer.alloc(2 * 1024 * 1024, 7);
    const slowly = { body, chunkSize: 64 * 1024, delayMs: 5, halfClose: false, timeoutMs: 20_000 };
    const unknownModel = await rawExchange(server.inference, request('POST', '/predictions/nope', { 'Content-Length': body.length }), slowly);
    assert.equal(unknownModel.socketError, undefined);
    assert.equal(assertJsonError(unknownModel, 404)['type'], 'ModelNotFoundException');
    const unknownRoute = await rawExchange(server.management, request('POST', '/nowhere', { 'Content-Length': body.length }), slowly);
    assert.equal(unknownRoute.socketError, undefined);
    assert.deepEqual(assertJsonError(unknownRoute, 404), NOT_FOUND);
    const oip = await rawExchange(server.inference, request('POST', '/v2/models/nope/infer', { 'Content-Length': body.length }), slowly);
    assert.equal(oip.socketError, undefined);
    assertJsonError(oip, 404, 'oip');
    assert.equal((await call(`${server.inference}/ping`)).status, 200);
  });
  test('a client that half-closes after sending its request still gets the answer', async () => {
    const reply = await rawExchange(server.inference, Buffer.concat([Buffer.from(request('POST', '/predictions/noop', { 'Content-Length': 1 })), Buffer.from('x')]), { halfClose: true });
    assert.equal(reply.status, 200, reply.body.toString());
    assert.ok(reply.complete);
  });

  // Last: on the old code it ends the server.
  test('a multipart body that stops mid-part → 400 BadRequestException; the server lives on', async () => {
    const body = Buffer.from('--X\r\nContent-Disposition: form-data; name="data"; filename="a.jpg"\r\n\r\nabc');
    for (let i = 0; i < 3; i++) {
      const reply = await rawExchange(server.inference, request('POST', '/predictions/noop', { 'Content-Type': 'multipart/form-data; boundary=X', 'Content-Length': body.length }), { body });
      const error = assertJsonError(reply, 400);
      assert.equal(error['type'], 'BadRequestException');
      assert.match(String(error['message']), /^Malformed multipart body/);
    }
    assert.equal(server.process.exitCode, null);
    assert.deepEqual((await call(`${server.inference}/ping`)).body, { status: 'Healthy' });
    assert.equal((await call(`${server.inference}/predictions/noop`, { method: 'POST', body: 'x' })).status, 200);
  });
});

describe('token auth refusals', () => {
  test('a bad token with a large body sent slowly → the 400 InvalidKeyException JSON, not EPIPE', async () => {
    const server = await startServer({ properties: ['disable_token_authorization=false'] });
    try {
      const keys = JSON.parse(readFileSync(join(server.root, 'key_file.json'), 'utf8')) as { inference: { key: string } };
      assert.ok(keys.inference.key);
      const body = Buffer.alloc(2 * 1024 * 1024, 1);
      const reply = await rawExchange(server.inference, request('POST', '/predictions/any', { Authorization: 'Bearer wrong', 'Content-Length': body.length }), {
        body,
        chunkSize: 64 * 1024,
        delayMs: 5,
        halfClose: false,
        timeoutMs: 20_000,
      });
      assert.equal(reply.socketError, undefined);
      assert.equal(assertJsonError(reply, 400)['type'], 'InvalidKeyException');
    } finally {
      await server.stop();
    }
  });
});
