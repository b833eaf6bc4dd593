/**
 * The TorchServe conformance checklist (spec torchserve-api.md §10) against a real
 * `kiln serve`, one test per item, named by its number. Items not implemented yet are listed
 * in the closing note of the session that wrote this file, not faked here.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeNoopArchive } from '../../fixtures/archives.js';
import { call, startServer, type ServerUnderTest } from './harness.js';

const ERROR_KEYS = ['code', 'message', 'type'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function assertError(result: { status: number; body: any }, status: number, type: string, message: string | RegExp): void {
  assert.equal(result.status, status, JSON.stringify(result.body));
  assert.deepEqual(Object.keys(result.body).sort(), ERROR_KEYS);
  assert.equal(result.body.code, status);
  assert.equal(result.body.type, type);
  if (typeof message === 'string') assert.equal(result.body.message, message);
  else assert.match(result.body.message, message);
}

describe('TorchServe conformance checklist', () => {
  let server: ServerUnderTest;
  const register = (query: string) => call(`${server.management}/models?${query}`, { method: 'POST' });
  const predict = (path: string, init: RequestInit = {}) => call(`${server.inference}${path}`, { method: 'POST', ...init });

  before(async () => {
    server = await startServer({ properties: ['cors_allowed_origin=*', 'job_queue_size=3', 'max_request_size=2000'] });
    await writeNoopArchive(server.store);
    await writeNoopArchive(join(server.store, 'v2'), { version: '2.0' });
    await writeNoopArchive(server.store, { name: 'slow', config: 'responseTimeout: 1\nminWorkers: 1\nmaxWorkers: 1\n' });
    await writeNoopArchive(server.store, { name: 'a' });
    await writeNoopArchive(server.store, { name: 'b' });
    await writeNoopArchive(server.store, { name: 'queue', config: 'batchSize: 1\nmaxBatchDelay: 1\n' });
  });
  after(async () => {
    assert.equal(await server.stop(), 0, 'kiln serve exits 0 on SIGTERM');
  });

  test('28: register with 0 workers', async () => {
    const result = await register('url=noop.mar');
    assert.equal(result.status, 200);
    assert.deepEqual(result.body, { status: 'Model "noop" Version: 1.0 registered with 0 initial workers. Use scale workers API to add workers for the model.' });
  });

  test('13: 0 workers → 503 no worker', async () => {
    assertError(await predict('/predictions/noop', { body: 'x' }), 503, 'ServiceUnavailableException', /^Model "noop" has no worker to serve inference request\. Please use scale workers API to add workers\./);
  });

  test('37: scale async → 202; synchronous → 200 "Workers scaled to 2 for model: noop"', async () => {
    const accepted = await call(`${server.management}/models/noop?min_worker=1`, { method: 'PUT' });
    assert.equal(accepted.status, 202);
    assert.deepEqual(accepted.body, { status: 'Processing worker updates...' });
    const done = await call(`${server.management}/models/noop?min_worker=2&synchronous=true`, { method: 'PUT' });
    assert.deepEqual([done.status, done.body], [200, { status: 'Workers scaled to 2 for model: noop' }]);
  });

  test('38: scale a named version → "…, version: 1.0"', async () => {
    const done = await call(`${server.management}/models/noop/1.0?min_worker=1&synchronous=true`, { method: 'PUT' });
    assert.deepEqual([done.status, done.body], [200, { status: 'Workers scaled to 1 for model: noop, version: 1.0' }]);
  });

  test('1: /ping → 200 Healthy with a trailing newline and an x-request-id UUID', async () => {
    const result = await call(`${server.inference}/ping`);
    assert.equal(result.status, 200);
    assert.equal(result.text, '{\n  "status": "Healthy"\n}\n');
    assert.match(result.headers.get('x-request-id') ?? '', UUID);
  });

  test('3: OPTIONS / and /api-description → OpenAPI 3.0.1', async () => {
    for (const result of [await call(`${server.inference}/`, { method: 'OPTIONS' }), await call(`${server.inference}/api-description`)]) {
      assert.equal(result.status, 200);
      assert.equal(result.body.openapi, '3.0.1');
      assert.ok('/predictions/{model_name}' in result.body.paths);
    }
  });

  test('4: GET / → 405', async () => {
    assertError(await call(`${server.inference}/`), 405, 'MethodNotAllowedException', 'Requested method is not allowed, please refer to API document.');
  });

  test('5: unknown path → 404 with Connection: close', async () => {
    const result = await call(`${server.inference}/foo`);
    assertError(result, 404, 'ResourceNotFoundException', 'Requested resource is not found, please refer to API document.');
    assert.equal(result.headers.get('connection'), 'close');
  });

  test('6: POST raw body → the handler gets {body: bytes}', async () => {
    const result = await predict('/predictions/noop', { body: new TextEncoder().encode('hello') });
    assert.equal(result.status, 200);
    assert.deepEqual(result.body.input, { body: { bytes: 5, text: 'hello' } });
  });

  test('7: PUT (curl -T) → same as 6', async () => {
    const result = await predict('/predictions/noop', { method: 'PUT', body: new TextEncoder().encode('hello') });
    assert.deepEqual(result.body.input, { body: { bytes: 5, text: 'hello' } });
  });

  test('8: multipart -F data=@x → {data: bytes}', async () => {
    const form = new FormData();
    form.append('data', new Blob([new Uint8Array([1, 2, 3])]), 'x.bin');
    const result = await predict('/predictions/noop', { body: form });
    assert.deepEqual(result.body.input, { data: { bytes: 3, text: '\u0001\u0002\u0003' } });
  });

  test('9: application/json body → the handler gets the object', async () => {
    const result = await predict('/predictions/noop', { body: '{"a":1}', headers: { 'content-type': 'application/json' } });
    assert.deepEqual(result.body.input, { body: { a: 1 } });
  });

  test('10: a returned object → 2-space JSON, no Content-Type unless set', async () => {
    const result = await predict('/predictions/noop', { body: 'x' });
    assert.match(result.text, /^\{\n {2}"input": \{/);
    assert.equal(result.headers.get('content-type'), null);
    const custom = await predict('/predictions/noop', { body: 'status:201' });
    assert.equal(custom.status, 201);
    assert.equal(custom.headers.get('x-noop'), 'yes');
  });

  test('11: unknown model → 404 ModelNotFoundException', async () => {
    assertError(await predict('/predictions/nope', { body: 'x' }), 404, 'ModelNotFoundException', 'Model not found: nope');
  });

  test('12: unknown version → 404 ModelVersionNotFoundException', async () => {
    assertError(await predict('/predictions/noop/9.9', { body: 'x' }), 404, 'ModelVersionNotFoundException', 'Model version: 9.9 does not exist for model: noop');
  });

  test('15: handler throws → 503 "Prediction failed"', async () => {
    assertError(await predict('/predictions/noop', { body: 'throw' }), 503, 'InternalServerException', 'Prediction failed');
  });

  test('16: PredictionError("bad", 513) → 513 "bad"', async () => {
    assertError(await predict('/predictions/noop', { body: 'raise:513' }), 513, 'InternalServerException', 'bad');
  });

  test('17: wrong result count → 503 "number of batch response mismatched"', async () => {
    assertError(await predict('/predictions/noop', { body: 'wrong-count' }), 503, 'InternalServerException', /^number of batch response mismatched/);
  });

  test('18: past responseTimeout → 500 "Worker died.", the worker is replaced, the next request is 200', async () => {
    assert.equal((await register('url=slow.mar&initial_workers=1')).status, 200);
    assertError(await predict('/predictions/slow', { body: 'sleep:3000' }), 500, 'InternalServerException', 'Worker died.');
    let next = await predict('/predictions/slow', { body: 'ok' });
    for (let tries = 0; next.status !== 200 && tries < 50; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      next = await predict('/predictions/slow', { body: 'ok' });
    }
    assert.equal(next.status, 200);
  });

  test('19: body > max_request_size → 413 before the body is read; the server still serves', async () => {
    const status = await new Promise<string>((resolve, reject) => {
      const url = new URL(`${server.inference}/predictions/noop`);
      const socket = connect(Number(url.port), url.hostname, () => {
        socket.write(`POST /predictions/noop HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\nabc`);
      });
      let data = '';
      socket.on('data', (chunk) => {
        data += chunk.toString();
        if (data.includes('\r\n\r\n')) resolve(data.split('\r\n')[0]!);
      });
      socket.on('error', reject);
    });
    assert.equal(status, 'HTTP/1.1 413 Payload Too Large');
    assert.equal((await call(`${server.inference}/ping`)).status, 200);
  });

  test('20: a streaming handler (3 intermediate + final) → 200 chunked; body = the chunks in order', async () => {
    const response = await fetch(`${server.inference}/predictions/noop`, { method: 'POST', body: new TextEncoder().encode('stream:3') });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('transfer-encoding'), 'chunked');
    assert.equal(response.headers.get('content-length'), null);
    assert.equal(response.headers.get('x-stream'), 'yes');
    assert.match(response.headers.get('x-request-id') ?? '', UUID);
    const chunks: string[] = [];
    const decoder = new TextDecoder();
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) chunks.push(decoder.decode(chunk));
    assert.equal(chunks.join(''), 'part 1\npart 2\npart 3\nfinal\n');
    assert.ok(chunks.length >= 2, `the parts arrived as they were sent (${chunks.length} reads)`);
  });

  test('21: /explanations sets explain=True; /predictions/noop/1.0/a/b sets url_path=a/b', async () => {
    assert.equal((await predict('/explanations/noop', { body: 'x' })).body.headers.explain, 'True');
    const rest = await predict('/predictions/noop/1.0/a/b', { body: 'x' });
    assert.deepEqual(rest.body.headers, { explain: 'False', url_path: 'a/b' });
  });

  test('22: KServe v1 :predict → default version', async () => {
    const result = await predict('/v1/models/noop:predict', { body: 'x' });
    assert.equal(result.status, 200);
    assert.equal(result.body.model, 'noop:1.0');
  });

  test('29: register without url → 400', async () => {
    assertError(await register(''), 400, 'BadRequestException', 'Parameter url is required.');
  });

  test('30: the same model+version twice → 409', async () => {
    assertError(await register('url=noop.mar'), 409, 'ConflictStatusException', 'Model version 1.0 is already registered for model noop');
  });

  test('31: a missing archive → 404 "Model not found at: missing.mar"', async () => {
    assertError(await register('url=missing.mar'), 404, 'ModelNotFoundException', 'Model not found at: missing.mar');
  });

  test('32: .. in url, raw and percent-encoded → 404, nothing read or written', async () => {
    const before = readdirSync(server.store).sort();
    assertError(await register('url=../noop.mar'), 404, 'ModelNotFoundException', 'Relative path is not allowed in url: ../noop.mar');
    assertError(await register('url=%2e%2e/noop.mar'), 404, 'ModelNotFoundException', 'Relative path is not allowed in url: ../noop.mar');
    assert.deepEqual(readdirSync(server.store).sort(), before);
  });

  test('33: default allowed_urls → remote and file:// urls refused, no connection made', async () => {
    assertError(await register('url=http://127.0.0.1:9/x.mar'), 404, 'ModelNotFoundException', 'Given URL http://127.0.0.1:9/x.mar does not match any allowed URL(s)');
    assertError(await register('url=file:///etc/passwd'), 404, 'ModelNotFoundException', 'Given URL file:///etc/passwd does not match any allowed URL(s)');
  });

  test('34: an existing folder outside the model store → 404', async () => {
    const outside = join(tmpdir(), `kiln-outside-${process.pid}`);
    mkdirSync(outside, { recursive: true });
    assert.equal((await register(`url=${encodeURIComponent(outside)}`)).status, 404);
  });

  test('35: initial_workers=1&synchronous=false → 202; synchronous=true → 200 with 1 worker', async () => {
    const accepted = await register('url=v2/noop.mar&initial_workers=1&synchronous=false');
    assert.deepEqual([accepted.status, accepted.body], [202, { status: 'Processing worker updates...' }]);
    const done = await register('url=a.mar&initial_workers=1&synchronous=true');
    assert.deepEqual([done.status, done.body], [200, { status: 'Model "a" Version: 1.0 registered with 1 initial workers' }]);
  });

  test('39: max_worker < min_worker → 400, also for an unknown model', async () => {
    for (const model of ['noop', 'nope']) {
      assertError(await call(`${server.management}/models/${model}?min_worker=3&max_worker=1`, { method: 'PUT' }), 400, 'BadRequestException', 'max_worker cannot be less than min_worker.');
    }
  });

  test('40: scale an unknown model → 404', async () => {
    assertError(await call(`${server.management}/models/nope?min_worker=1`, { method: 'PUT' }), 404, 'ModelNotFoundException', 'Model not found: nope');
  });

  test('41: list is sorted and paged with nextPageToken', async () => {
    assert.equal((await register('url=b.mar')).status, 200);
    const all = await call(`${server.management}/models`);
    assert.deepEqual(all.body.models.map((m: { modelName: string }) => m.modelName), ['a', 'b', 'noop', 'slow']);
    const first = await call(`${server.management}/models?limit=1`);
    assert.deepEqual(first.body, { nextPageToken: '1', models: [{ modelName: 'a', modelUrl: 'a.mar' }] });
    const second = await call(`${server.management}/models?limit=1&next_page_token=1`);
    assert.deepEqual(second.body, { nextPageToken: '2', models: [{ modelName: 'b', modelUrl: 'b.mar' }] });
  });

  test('42: describe → an array with the fields in order and a READY worker', async () => {
    const result = await call(`${server.management}/models/a`);
    assert.equal(result.status, 200);
    assert.equal(result.body.length, 1);
    assert.deepEqual(Object.keys(result.body[0]).slice(0, 6), ['modelName', 'modelVersion', 'modelUrl', 'runtime', 'minWorkers', 'maxWorkers']);
    assert.equal(result.body[0].workers[0].status, 'READY');
    assert.deepEqual(Object.keys(result.body[0].jobQueueStatus), ['remainingCapacity', 'pendingRequests']);
  });

  test('43: describe all versions; unknown → 404', async () => {
    const deadline = Date.now() + 10_000;
    let all = await call(`${server.management}/models/noop/all`);
    while (all.body.length < 2 && Date.now() < deadline) all = await call(`${server.management}/models/noop/all`);
    assert.deepEqual(all.body.map((v: { modelVersion: string }) => v.modelVersion).sort(), ['1.0', '2.0']);
    assertError(await call(`${server.management}/models/nope`), 404, 'ModelNotFoundException', 'Model not found: nope');
  });

  test('44: set-default → 200; unknown version → 404', async () => {
    const result = await call(`${server.management}/models/noop/2.0/set-default`, { method: 'PUT' });
    assert.deepEqual([result.status, result.body], [200, { status: 'Default version successfully updated for model "noop" to "2.0"' }]);
    assert.equal((await call(`${server.management}/models/noop/7.0/set-default`, { method: 'PUT' })).status, 404);
    await call(`${server.management}/models/noop/1.0/set-default`, { method: 'PUT' });
  });

  test('45: the default version cannot go first; another version can', async () => {
    assertError(await call(`${server.management}/models/noop/1.0`, { method: 'DELETE' }), 403, 'InvalidModelVersionException', 'Cannot remove default version for model noop');
    const result = await call(`${server.management}/models/noop/2.0`, { method: 'DELETE' });
    assert.deepEqual([result.status, result.body], [200, { status: 'Model "noop" unregistered' }]);
  });

  test('14: more than job_queue_size in flight → the excess get 503, the others succeed', async () => {
    assert.equal((await register('url=queue.mar&initial_workers=1')).status, 200);
    const results = await Promise.all(Array.from({ length: 10 }, () => predict('/predictions/queue', { body: 'sleep:200' })));
    const statuses = results.map((result) => result.status);
    assert.ok(statuses.includes(503), `statuses ${statuses}`);
    assert.ok(statuses.filter((s) => s === 200).length >= 3, `statuses ${statuses}`);
    assert.ok(statuses.every((s) => s === 200 || s === 503), `statuses ${statuses}`);
    for (const result of results.filter((r) => r.status === 503)) assert.match(result.body.message, /has no worker to serve inference request/);
  });

  test('46: /metrics after inference → Prometheus text with ts_inference_requests_total; name[] filters', async () => {
    const result = await call(`${server.metrics}/metrics`);
    assert.equal(result.status, 200);
    assert.match(result.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    // TorchServe's exact text by default: a comma after every label pair, Java doubles.
    assert.match(result.text, /^ts_inference_requests_total\{model_name="noop",model_version="default",hostname="[^"]+",\} \d+\.0$/m);
    // Backend and worker figures are recorded too, and the per-version gauges.
    assert.match(result.text, /^HandlerTime\{ModelName="noop",Level="Model",Hostname="[^"]+",\} \d+\.\d+(E-?\d+)?$/m);
    assert.match(result.text, /^PredictionTime\{ModelName="noop",Level="Model",Hostname="[^"]+",\} \d+\.\d+(E-?\d+)?$/m);
    assert.match(result.text, /^WorkerLoadTime\{WorkerName="noop-1\.0-\d+",Level="Host",Hostname="[^"]+",\} \d+\.\d+(E-?\d+)?$/m);
    assert.match(result.text, /^kiln_model_workers\{model_name="noop",model_version="1\.0",state="ready"\} 1(\.0)?$/m);
    // System metrics, as TorchServe reports them; no GPU family on a host without one.
    for (const name of ['CPUUtilization', 'MemoryUtilization', 'DiskUtilization']) {
      const value = Number(new RegExp(`^${name}\\{Level="Host",Hostname="[^"]+",\\} (\\d+\\.\\d+)$`, 'm').exec(result.text)?.[1]);
      assert.ok(value >= 0 && value <= 100, `${name} ${value}`);
    }
    for (const name of ['MemoryUsed', 'MemoryAvailable', 'DiskUsage', 'DiskAvailable']) {
      assert.match(result.text, new RegExp(`^${name}\\{Level="Host",Hostname="[^"]+",\\} \\d+\\.\\d+(E\\d+)?$`, 'm'));
    }
    if (!existsSync('/dev/nvidia0')) assert.doesNotMatch(result.text, /^GPU/m);
    const filtered = await call(`${server.metrics}/metrics?name[]=ts_queue_latency_microseconds`);
    assert.match(filtered.text, /ts_queue_latency_microseconds/);
    assert.doesNotMatch(filtered.text, /ts_inference_requests_total|CPUUtilization/);
  });

  test('47: cors_allowed_origin=* → on every response, errors included', async () => {
    for (const result of [await call(`${server.inference}/ping`), await call(`${server.inference}/foo`), await predict('/predictions/nope', { body: 'x' })]) {
      assert.equal(result.headers.get('access-control-allow-origin'), '*');
    }
  });

  test('48: a hostile .mar (zip slip) → 400 InvalidModelException, nothing written outside', async () => {
    const { ZipFile } = await import('yazl');
    const zip = new ZipFile();
    zip.addBuffer(Buffer.from('{}'), 'MAR-INF/MANIFEST.json');
    zip.addBuffer(Buffer.from('evil'), 'aa/evil.txt');
    zip.end();
    const chunks: Buffer[] = [];
    for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
    // yazl refuses '..' names, so rename the entry in place: same length, header and directory.
    const bytes = Buffer.from(Buffer.concat(chunks).toString('latin1').replaceAll('aa/evil.txt', '../evil.txt'), 'latin1');
    writeFileSync(join(server.store, 'hostile.mar'), bytes);
    const result = await register('url=hostile.mar');
    assert.equal(result.status, 400);
    assert.equal(result.body.type, 'InvalidModelException');
    assert.equal(existsSync(join(server.store, '..', 'evil.txt')), false);
  });

  test('49: model-config.yaml with a code tag → 400, no code run', async () => {
    await writeNoopArchive(server.store, { name: 'tagged', config: 'minWorkers: !!js/function "function () { process.exit(3) }"\n' });
    const result = await register('url=tagged.mar');
    assert.equal(result.status, 400);
    assert.match(result.body.message, /not plain YAML data/);
    assert.equal((await call(`${server.inference}/ping`)).status, 200);
  });
});

describe('health', () => {
  test('2: a default version below minWorkers past maxRetryTimeoutInSec → /ping 500 Unhealthy', async () => {
    const server = await startServer();
    try {
      await writeNoopArchive(server.store, { name: 'fragile', config: 'minWorkers: 1\nmaxWorkers: 1\nresponseTimeout: 1\nmaxRetryTimeoutInSec: 3\n' });
      assert.equal((await call(`${server.management}/models?url=fragile.mar`, { method: 'POST' })).status, 200);
      assert.equal((await call(`${server.inference}/ping`)).status, 200);
      // The worker hangs past responseTimeout; every restart then fails to load.
      assertError(await call(`${server.inference}/predictions/fragile`, { method: 'POST', body: new TextEncoder().encode('break') }), 500, 'InternalServerException', 'Worker died.');
      const healthy = await call(`${server.inference}/ping`);
      assert.equal(healthy.status, 200, 'within maxRetryTimeoutInSec a restarting model still counts as healthy');
      // Restarts keep failing (a loading worker counts as healthy, as in TorchServe), so poll:
      // once the retry window has passed with no live worker, /ping must turn Unhealthy.
      let ping = await call(`${server.inference}/ping`);
      for (const deadline = Date.now() + 20_000; ping.status === 200 && Date.now() < deadline; ) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        ping = await call(`${server.inference}/ping`);
      }
      assert.deepEqual([ping.status, ping.body], [500, { status: 'Unhealthy' }]);
    } finally {
      rmSync(join(tmpdir(), `kiln-noop-broken-${server.process.pid}`), { force: true });
      await server.stop();
    }
  });
});

describe('graceful shutdown', () => {
  test('SIGTERM drains an in-flight request, then exits 0 with a shutdown snapshot', async () => {
    const logs = mkdtempSync(join(tmpdir(), 'kiln-shutdown-logs-'));
    const server = await startServer({ logs });
    await writeNoopArchive(server.store);
    await call(`${server.management}/models?url=noop.mar&initial_workers=1`, { method: 'POST' });
    const inFlight = call(`${server.inference}/predictions/noop`, { method: 'POST', body: new TextEncoder().encode('sleep:800') });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const exit = server.stop();
    const response = await inFlight;
    assert.equal(response.status, 200);
    assert.equal(await exit, 0);
    const snapshots = readdirSync(join(logs, 'config'));
    assert.ok(snapshots.some((name) => name.endsWith('-shutdown.cfg')), snapshots.join(', '));
    rmSync(logs, { recursive: true, force: true });
  });
});

describe('model API control', () => {
  test('36: with the model API off, register and unregister (models and workflows) → 405; list → 200', async () => {
    const server = await startServer({ properties: ['enable_model_api=false'] });
    try {
      await writeNoopArchive(server.store);
      assert.equal((await call(`${server.management}/models?url=noop.mar`, { method: 'POST' })).status, 405);
      assert.equal((await call(`${server.management}/models/noop`, { method: 'DELETE' })).status, 405);
      assertError(await call(`${server.management}/workflows?url=w.war`, { method: 'POST' }), 405, 'MethodNotAllowedException', 'Requested method is not allowed, please refer to API document.');
      assert.equal((await call(`${server.management}/workflows/w`, { method: 'DELETE' })).status, 405);
      assert.equal((await call(`${server.management}/models`)).status, 200);
      assert.equal((await call(`${server.management}/workflows`)).status, 200);
    } finally {
      await server.stop();
    }
  });
});

describe('snapshots', () => {
  test('50: kill -9 during traffic, restart without --ts-config: models, versions, defaults and (scaled) workers come back', async () => {
    const root = join(tmpdir(), `kiln-snapshot-${process.pid}`);
    const store = join(root, 'model_store');
    const logs = join(root, 'logs');
    mkdirSync(store, { recursive: true });
    await writeNoopArchive(store);
    await writeNoopArchive(join(store, 'v2'), { version: '2.0' });
    await writeNoopArchive(store, { name: 'yaml', config: 'minWorkers: 1\nmaxWorkers: 1\n' });
    const first = await startServer({ store, logs });
    await call(`${first.management}/models?url=noop.mar&initial_workers=2`, { method: 'POST' });
    // Scaled past its yaml's minWorkers: the restored count must be the scaled one.
    await call(`${first.management}/models?url=yaml.mar`, { method: 'POST' });
    await call(`${first.management}/models/yaml?min_worker=3&synchronous=true`, { method: 'PUT' });
    await call(`${first.management}/models?url=v2/noop.mar&initial_workers=1`, { method: 'POST' });
    await call(`${first.management}/models/noop/2.0/set-default`, { method: 'PUT' });
    const traffic = Array.from({ length: 20 }, () => call(`${first.inference}/predictions/noop`, { method: 'POST', body: 'x' }).catch(() => undefined));
    await first.kill();
    await Promise.all(traffic);
    // Restart with only the model store and log folder: the newest snapshot is the config.
    const second = await startServer({ store, logs, args: ['--model-store', store] });
    try {
      const described = await call(`${second.management}/models/noop/all`);
      const byVersion = Object.fromEntries(described.body.map((v: { modelVersion: string; minWorkers: number; workers: unknown[] }) => [v.modelVersion, [v.minWorkers, v.workers.length]]));
      assert.deepEqual(byVersion, { '1.0': [2, 2], '2.0': [1, 1] });
      const yaml = (await call(`${second.management}/models/yaml`)).body[0];
      assert.deepEqual([yaml.minWorkers, yaml.workers.length], [3, 3]);
      assert.equal((await call(`${second.inference}/predictions/noop`, { method: 'POST', body: 'x' })).body.model, 'noop:2.0');
    } finally {
      await second.stop();
    }
  });
});
