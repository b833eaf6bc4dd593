/**
 * `npm run bench:http`: what kiln's own HTTP layer (createListener + Router + sendJson/readBody,
 * the request path of `KilnServer` without the registry) costs next to fastify 5 doing the same
 * work, to decide whether adopting fastify would pay (issue 15). Each server runs in its own
 * child process; this process is the load generator (keep-alive clients). Two requests:
 * `GET /ping` (a trivial route) and a predict-shaped `POST /predictions/:model` with a small JSON
 * body that is parsed and answered as JSON. kiln and fastify alternate, round by round, so the
 * machine's noise falls on both. Besides requests/s and latency, each server's own CPU time per
 * request (from /proc, 10 ms ticks) is reported: on a shared, loaded machine throughput moves with
 * the neighbours, while CPU per request measures the framework's own work.
 *
 * Usage: npm run bench:http [-- --rounds R --seconds S --clients C]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { table } from '../src/cli/format.js';
import { processCpuMs } from './server/child.js';
import { quantile } from '../src/evaluate/latency.js';

type Framework = 'kiln' | 'fastify';
const FRAMEWORKS: readonly Framework[] = ['kiln', 'fastify'];

const flag = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};

/** The predict-shaped body: a few hundred bytes of JSON, as a small tabular or text request. */
const PREDICT_BODY = Buffer.from(JSON.stringify({ inputs: Array.from({ length: 32 }, (_, i) => ({ id: i, value: Math.sin(i) })) }));

// ---- the servers (child processes) ------------------------------------------------------------

async function serveKiln(): Promise<number> {
  const { randomUUID } = await import('node:crypto');
  const { createListener } = await import('../src/server/http/listener.js');
  const { route, Router } = await import('../src/server/http/router.js');
  const { sendError, sendJson, sendStatus } = await import('../src/server/http/response.js');
  const { readBody } = await import('../src/server/http/request-body.js');
  type Ctx = { requestId: string };
  const router = new Router<Ctx>([
    route('GET', '/ping', (_req, res, _params, ctx) => sendStatus(res, 200, 'Healthy', ctx)),
    route('POST', '/predictions/:model', async (req, res, { model }, ctx) => {
      const body = JSON.parse((await readBody(req, { maxBytes: 6_553_500 })).toString('utf8')) as { inputs: unknown[] };
      sendJson(res, 200, { model, count: body.inputs.length }, ctx);
    }),
  ]);
  // What KilnServer.#handle does per request, less the registry, auth and logging.
  const server = createListener(
    (req, res) => {
      const ctx = { requestId: randomUUID() };
      const resolved = router.resolve(req.method ?? 'GET', req.url ?? '/');
      void (async () => {
        try {
          if ('error' in resolved) throw resolved.error;
          await resolved.match.handler(req, res, resolved.match.params, ctx);
        } catch (error) {
          sendError(res, error, ctx);
        }
      })();
    },
    { maxRequestSize: () => 6_553_500, context: () => ({ requestId: randomUUID() }) },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/**
 * The part of fastify's API the bench uses. fastify is a devDependency for this bench only; the
 * import goes through a variable so that `npm run typecheck` passes where it is not installed.
 */
interface FastifyLike {
  addHook(name: 'onSend', hook: (request: { id: string }, reply: { header(name: string, value: string): unknown }) => Promise<void>): void;
  get(path: string, handler: () => Promise<unknown>): void;
  post(path: string, handler: (request: { params: { model: string }; body: { inputs: unknown[] } }) => Promise<unknown>): void;
  listen(options: { port: number; host: string }): Promise<string>;
}
type FastifyFactory = (options: { logger: boolean; bodyLimit: number; genReqId: () => string }) => FastifyLike;

async function serveFastify(): Promise<number> {
  const { randomUUID } = await import('node:crypto');
  const name = 'fastify';
  const { default: Fastify } = (await import(name).catch(() => {
    throw new Error('fastify is not installed: npm install (it is a devDependency, for this bench only)');
  })) as { default: FastifyFactory };
  const app = Fastify({ logger: false, bodyLimit: 6_553_500, genReqId: () => randomUUID() });
  // kiln answers every request with its x-request-id; so does this server.
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.get('/ping', async () => ({ status: 'Healthy' }));
  app.post('/predictions/:model', async (request) => ({ model: request.params.model, count: request.body.inputs.length }));
  return Number(new URL(await app.listen({ port: 0, host: '127.0.0.1' })).port);
}

// ---- the load generator -----------------------------------------------------------------------

interface Server {
  readonly framework: Framework;
  readonly port: number;
  readonly child: ChildProcess;
}

async function start(framework: Framework): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve', framework], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = /port (\d+)/.exec(text);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`${framework} server exited (${code})`)));
  });
  return { framework, port, child };
}

type Kind = 'ping' | 'predict';

function request(agent: http.Agent, port: number, kind: Kind): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, agent, method: kind === 'ping' ? 'GET' : 'POST', path: kind === 'ping' ? '/ping' : '/predictions/m', headers: kind === 'ping' ? {} : { 'content-type': 'application/json', 'content-length': PREDICT_BODY.length } },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(kind === 'ping' ? undefined : PREDICT_BODY);
  });
}

/** `clients` keep-alive clients send back to back for `ms`; requests/s and latencies (ms). */
async function load(port: number, kind: Kind, clients: number, ms: number): Promise<{ rps: number; latencies: number[] }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const latencies: number[] = [];
  const until = performance.now() + ms;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < until) {
        const at = performance.now();
        await request(agent, port, kind);
        latencies.push(performance.now() - at);
      }
    }),
  );
  const elapsed = performance.now() - started;
  agent.destroy();
  return { rps: (latencies.length * 1000) / elapsed, latencies };
}

async function main(): Promise<void> {
  const rounds = flag('rounds', 6);
  const seconds = flag('seconds', 2);
  const clients = flag('clients', 16);
  const servers = await Promise.all(FRAMEWORKS.map(start));
  console.log(`kiln bench:http — ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} cores), node ${process.version}; ${rounds} alternating rounds of ${seconds} s per cell, ${clients} keep-alive clients\n`);
  const rps = new Map<string, number[]>();
  const latencies = new Map<string, number[]>();
  const cpuMicros = new Map<string, number[]>();
  try {
    for (const server of servers) for (const kind of ['ping', 'predict'] as const) await load(server.port, kind, clients, 500); // warm-up
    for (let round = 0; round < rounds; round++) {
      for (const kind of ['ping', 'predict'] as const) {
        // Alternate which framework goes first, so neither always follows the other's garbage.
        const order = round % 2 === 0 ? servers : [...servers].reverse();
        for (const server of order) {
          const key = `${kind}/${server.framework}`;
          const cpuBefore = processCpuMs(server.child.pid);
          const result = await load(server.port, kind, clients, seconds * 1000);
          const cpu = ((processCpuMs(server.child.pid) - cpuBefore) * 1000) / result.latencies.length;
          (cpuMicros.get(key) ?? cpuMicros.set(key, []).get(key)!).push(cpu);
          (rps.get(key) ?? rps.set(key, []).get(key)!).push(result.rps);
          (latencies.get(key) ?? latencies.set(key, []).get(key)!).push(...result.latencies);
        }
      }
    }
  } finally {
    for (const server of servers) server.child.kill();
  }
  const median = (values: number[]) => quantile([...values].sort((a, b) => a - b), 0.5);
  const rows: string[][] = [];
  for (const kind of ['ping', 'predict'] as const) {
    const cell = (framework: Framework) => {
      const sorted = [...latencies.get(`${kind}/${framework}`)!].sort((a, b) => a - b);
      return { rps: median(rps.get(`${kind}/${framework}`)!), p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), cpu: median(cpuMicros.get(`${kind}/${framework}`)!) };
    };
    const kiln = cell('kiln');
    const fastify = cell('fastify');
    rows.push([
      kind,
      kiln.rps.toFixed(0),
      fastify.rps.toFixed(0),
      (kiln.rps / fastify.rps).toFixed(3),
      kiln.p50.toFixed(2),
      fastify.p50.toFixed(2),
      kiln.p99.toFixed(2),
      fastify.p99.toFixed(2),
      kiln.cpu.toFixed(1),
      fastify.cpu.toFixed(1),
      (kiln.cpu / fastify.cpu).toFixed(3),
    ]);
  }
  const header = ['request', 'kiln req/s', 'fastify req/s', 'kiln/fastify', 'kiln p50 ms', 'fastify p50 ms', 'kiln p99 ms', 'fastify p99 ms'];
  console.log(table([...header, 'kiln CPU µs/req', 'fastify CPU µs/req', 'kiln/fastify CPU'], rows));
}

const serve = process.argv.indexOf('--serve');
if (serve > 0) {
  const framework = process.argv[serve + 1] as Framework;
  const port = framework === 'kiln' ? await serveKiln() : await serveFastify();
  console.log(`port ${port}`);
} else {
  await main();
}
