/**
 * Fuzzes one real `kiln serve` (issue 11): raw HTTP bytes on all three ports, multipart bodies,
 * TorchServe JSON and OIP v2 bodies (JSON and binary), image bytes for the image classifier,
 * and management query strings. After every case the process must be alive and the answer
 * allowed for its family (below); every error must be the documented JSON. After the run
 * `/ping` must be Healthy and the served models' workers the same ones as before.
 *
 * KILN_FUZZ_SEED fixes the seed (printed either way); KILN_FUZZ_RUNS sets the case count
 * (default 3000; `npm run test:fuzz` runs 10,000).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { call, type ServerUnderTest } from '../e2e/server/harness.js';
import { fuzzCase, imageCaseFor, type Family, type FuzzCase } from './arbitraries.js';
import { sampleImages, startFuzzServer, workerIdentities } from './fuzz-server.js';
import { rawExchange, type RawReply } from './raw-http.js';

const SEED = Number(process.env['KILN_FUZZ_SEED'] ?? 20_251_103);
const RUNS = Number(process.env['KILN_FUZZ_RUNS'] ?? 3000);

/**
 * Statuses a client can cause, per family. No 5xx anywhere: every case is a client error or a
 * valid request, the cases run one at a time and the workers stay up, so the one 5xx a client
 * could meet honestly (503, a full queue) cannot happen here either.
 * - raw: anything a route answers (200, 202 for async scaling is excluded: the fuzzer never
 *   scales a served model) plus the edge's own refusals: 400 (parser, Host), 404, 405, 408,
 *   413, 417, 431.
 * - multipart, oip, image (inference routes): 200 with a good input, else 400, 404 (unknown
 *   model or version), 405, 413.
 * - management: 200 (a registration of spare.mar with 0 workers, a describe or list), 400, 404,
 *   405, 409 (already registered), 413.
 */
const ALLOWED: Readonly<Record<Family, ReadonlySet<number>>> = {
  raw: new Set([200, 400, 404, 405, 408, 413, 417, 431]),
  multipart: new Set([200, 400, 404, 405, 413]),
  oip: new Set([200, 400, 404, 405, 413]),
  image: new Set([200, 400, 404, 405, 413]),
  management: new Set([200, 400, 404, 405, 409, 413]),
};

/** Refusals the listener writes before routing (parser errors, CONNECT, Expect): TorchServe's shape on every path. */
const EDGE_MESSAGES = /^(The request is not valid HTTP\/1\.1 \(.*\)\.|The request headers are larger than the server accepts\.|The request did not arrive in time\.|The chunk extensions of the request body are too large\.|Requested method is not allowed, please refer to API document\.|Expectation ".*" is not supported; only 100-continue is\.|Request body is larger than the limit of \d+ bytes \(max_request_size\)\.)$/;

/** OIP routes answer `{"error"}`: decided by the path as the router decodes it. */
function isOipTarget(item: FuzzCase): boolean {
  if (item.api !== 'inference') return false;
  let path = item.target.split(/[?#]/, 1)[0]!;
  if (!path.startsWith('/')) path = URL.canParse(path) ? new URL(path).pathname : '';
  const first = path.split('/')[1] ?? '';
  try {
    return decodeURIComponent(first) === 'v2';
  } catch {
    return false;
  }
}

/** Why a reply breaks the rules, or undefined when it keeps them. */
function violation(item: FuzzCase, reply: RawReply): string | undefined {
  if (reply.status === 0) {
    // No answer is right only when there was no request: nothing but blank lines, or an
    // HTTP/2 preface (which Node drops, as it should on an HTTP/1.1 port).
    const text = item.bytes.toString('latin1');
    if (/^\s*$/.test(text) || text.startsWith('PRI ')) return undefined;
    return `no response${reply.socketError ? ` (${reply.socketError})` : ''}`;
  }
  if (!ALLOWED[item.family].has(reply.status)) {
    // A route may legitimately answer 2xx for random raw requests to real routes.
    if (!(item.family === 'raw' && reply.status >= 200 && reply.status < 300)) return `status ${reply.status} not allowed for ${item.family}`;
  }
  // A HEAD answer has the headers of a GET answer and no body.
  if (item.method === 'HEAD') return undefined;
  if (!reply.complete) return 'response cut short';
  if (reply.status < 400) return undefined;
  if (!/^application\/json/.test(reply.headers['content-type'] ?? '')) return `error without a JSON Content-Type: ${JSON.stringify(reply.headers)}`;
  let body: unknown;
  try {
    body = JSON.parse(reply.body.toString('utf8'));
  } catch {
    return `error body is not JSON: ${reply.body.toString('utf8').slice(0, 200)}`;
  }
  const record = (body ?? {}) as Record<string, unknown>;
  const keys = Object.keys(record).join(',');
  const torchServe = keys === 'code,type,message' && record['code'] === reply.status && typeof record['type'] === 'string' && typeof record['message'] === 'string';
  const oip = keys === 'error' && typeof record['error'] === 'string';
  if (isOipTarget(item)) {
    if (oip || (torchServe && EDGE_MESSAGES.test(String(record['message'])))) return undefined;
    return `an OIP route answered ${JSON.stringify(body)}`;
  }
  return torchServe ? undefined : `not TorchServe's error shape: ${JSON.stringify(body)}`;
}

/** The model a 200 registration created, from TorchServe's status text. */
function registeredName(reply: RawReply): string | undefined {
  const text = reply.body.toString('utf8');
  try {
    return /^Model "(.*)" Version: /.exec(String((JSON.parse(text) as { status?: unknown }).status))?.[1];
  } catch {
    return undefined;
  }
}

let server: ServerUnderTest;
let samples: Buffer[];
before(async () => {
  [server, samples] = await Promise.all([startFuzzServer(), sampleImages()]);
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

test(`fuzz: ${RUNS} requests, seed ${SEED}`, async (t) => {
  t.diagnostic(`seed ${SEED} (KILN_FUZZ_SEED), ${RUNS} cases (KILN_FUZZ_RUNS)`);
  const before = await workerIdentities(server);
  const statuses = new Map<string, number>();
  /** Registrations the server accepted, for the report: names and values another check must bound. */
  const accepted: string[] = [];
  const started = Date.now();
  const base = { inference: server.inference, management: server.management, metrics: server.metrics };

  await fc.assert(
    fc.asyncProperty(fuzzCase(samples), async (item) => {
      const reply = await rawExchange(base[item.api], item.bytes, { timeoutMs: 15_000 });
      const key = `${item.family} ${reply.status}`;
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
      assert.equal(server.process.exitCode, null, 'the server process exited');
      assert.equal(server.process.signalCode, null, 'the server process was killed');
      const broken = violation(item, reply);
      assert.equal(broken, undefined, `${broken}\nrequest: ${JSON.stringify(item.bytes.toString('latin1').slice(0, 600))}\nreply: ${reply.status} ${reply.body.toString('utf8').slice(0, 300)}`);
      if (item.family === 'management' && item.method === 'POST' && reply.status === 200) {
        const name = registeredName(reply);
        accepted.push(`${JSON.stringify(item.query)} → ${name}`);
        // Undo it, so the store's spare archive can be registered again.
        if (name !== undefined) await call(`${server.management}/models/${encodeURIComponent(name)}`, { method: 'DELETE' });
      }
    }),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  );

  const seconds = (Date.now() - started) / 1000;
  const table = [...statuses].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k}: ${n}`).join(', ');
  t.diagnostic(`${RUNS} cases in ${seconds.toFixed(1)} s; statuses: ${table}`);
  t.diagnostic(`registrations accepted (${accepted.length}): ${accepted.slice(0, 40).join(' | ')}`);
  assert.deepEqual((await call(`${server.inference}/ping`)).body, { status: 'Healthy' });
  assert.deepEqual(await workerIdentities(server), before, 'the served models kept their workers');
});

/** Top label and its score of an image_classifier answer. */
function best(reply: RawReply): [string, number] {
  return Object.entries(JSON.parse(reply.body.toString('utf8')) as Record<string, number>).sort((a, b) => b[1] - a[1])[0]!;
}

test(`fuzz: ${Math.ceil(RUNS / 40)} batches of 8 concurrent image requests, each answered as it would be alone`, async (t) => {
  const batches = Math.ceil(RUNS / 40);
  const before = await workerIdentities(server);
  const statuses = new Map<number, number>();
  const metric = async () => {
    const text = (await call(`${server.metrics}/metrics`)).text;
    const read = (suffix: string) => Number(new RegExp(`^kiln_batch_size_${suffix}\\{[^}]*model_name="imgb"[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    return { count: read('count'), sum: read('sum') };
  };
  const batched = await metric();
  await fc.assert(
    fc.asyncProperty(fc.array(imageCaseFor(samples, '/predictions/imgb'), { minLength: 8, maxLength: 8 }), async (items) => {
      const together = await Promise.all(items.map((item) => rawExchange(server.inference, item.bytes, { timeoutMs: 15_000 })));
      for (const [index, item] of items.entries()) {
        const reply = together[index]!;
        statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
        const broken = violation(item, reply);
        assert.equal(broken, undefined, `request ${index}: ${broken}`);
        // The same bytes alone, to the unbatched copy of the model: the same status, the same label.
        const alone = await rawExchange(server.inference, Buffer.from(item.bytes.toString('latin1').replace('/predictions/imgb', '/predictions/img'), 'latin1'), { timeoutMs: 15_000 });
        assert.equal(reply.status, alone.status, `request ${index} answered ${reply.status} in a batch, ${alone.status} alone: ${reply.body.toString('utf8').slice(0, 200)}`);
        if (reply.status === 200 && item.method !== 'HEAD') {
          const [label, score] = best(reply);
          const [aloneLabel, aloneScore] = best(alone);
          assert.equal(label, aloneLabel);
          assert.ok(Math.abs(score - aloneScore) < 1e-5, `${score} vs ${aloneScore}`);
        }
      }
      assert.equal(server.process.exitCode, null, 'the server process exited');
    }),
    { seed: SEED, numRuns: batches, endOnFailure: true },
  );
  const after = await metric();
  const requests = after.sum - batched.sum;
  const runs = after.count - batched.count;
  t.diagnostic(`${batches} batches of 8: statuses ${[...statuses].map(([status, n]) => `${status}: ${n}`).join(', ')}; the worker ran ${requests} requests in ${runs} batches (${(requests / runs).toFixed(1)} per batch)`);
  assert.ok(requests / runs > 2, 'the concurrent requests were batched');
  assert.deepEqual(await workerIdentities(server), before, 'the served models kept their workers');
});
