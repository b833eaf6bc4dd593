/**
 * The load generator: {@link CLIENTS} keep-alive clients send one kind of request to one model
 * for a while, a worker thread GETs /ping meanwhile, and every answer is checked (exactly one per
 * request, a valid 200 body, unique `x-request-id`s) next to the server's CPU, loop and counters.
 */
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { machineBusyMs, processCpuMs, scrape, serverLoop, type LoopStats, type Server } from './child.js';
import { CLIENTS, LABELS, PING_EVERY_MS, REQUEST_TIMEOUT_MS } from './options.js';

export interface Reply {
  readonly status: number;
  readonly body: string;
  readonly requestId: string | undefined;
}

/** What the clients send to one model, and how they judge a 200's body. */
export interface RequestKind {
  readonly method: 'PUT' | 'POST';
  /** The route of `model` on the inference listener. */
  path(model: string): string;
  readonly contentType: string;
  /** Headers beyond content-type, content-length and x-bench-id. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly body: Buffer;
  valid(text: string): boolean;
}

/** TorchServe's inference route, which the image and `.npy` requests take. */
export const predictionsPath = (model: string) => `/predictions/${model}`;

/** One request on `agent`, its whole answer read. */
export function send(agent: http.Agent, url: URL, request: RequestKind, id: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: request.method,
        agent,
        headers: { 'content-type': request.contentType, 'content-length': request.body.length, 'x-bench-id': String(id), ...request.headers },
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), requestId: res.headers['x-request-id'] as string | undefined }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(request.body);
  });
}

/** An image_classifier answer: every label once, each with a number. */
export function validLabels(text: string): boolean {
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    return LABELS.every((label) => typeof body[label] === 'number') && Object.keys(body).length === LABELS.length;
  } catch {
    return false;
  }
}

/** Within this of the raw session's value, a probability counts as the same. */
const TOLERANCE = 1e-5;

const close = (data: readonly number[], expected: Float32Array) => data.length === expected.length && data.every((value, index) => Math.abs(value - expected[index]!) <= TOLERANCE);

/** A `tensor` handler answer: one [1, C] output whose values are `expected` (within 1e-5). */
export function validTensorReply(output: string, expected: Float32Array): (text: string) => boolean {
  return (text) => {
    try {
      const tensor = (JSON.parse(text) as { outputs: Record<string, { dims: number[]; data: number[] }> }).outputs[output]!;
      return tensor.dims.join() === `1,${expected.length}` && close(tensor.data, expected);
    } catch {
      return false;
    }
  };
}

/** An OIP inference answer: its first output is FP32 [1, C] with the values `expected` (within 1e-5). */
export function validOipReply(expected: Float32Array): (text: string) => boolean {
  return (text) => {
    try {
      const output = (JSON.parse(text) as { outputs: { datatype: string; shape: number[]; data: number[] }[] }).outputs[0]!;
      return output.datatype === 'FP32' && output.shape.join() === `1,${expected.length}` && close(output.data, expected);
    } catch {
      return false;
    }
  };
}

/**
 * An Open Inference Protocol request with the binary tensor extension, as Triton's clients send
 * it: a JSON header of `Inference-Header-Content-Length` bytes naming one FP32 input, followed by
 * its little-endian float32 bytes. The reply is JSON (no binary output was asked for).
 */
export function oipBinaryRequest(input: string, shape: readonly number[], tensor: Float32Array, expected: Float32Array): RequestKind {
  // Written element by element so the bytes are little-endian whatever this machine is.
  const data = Buffer.alloc(tensor.length * 4);
  tensor.forEach((value, index) => data.writeFloatLE(value, index * 4));
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: input, shape, datatype: 'FP32', parameters: { binary_data_size: data.length } }] }), 'utf8');
  return {
    method: 'POST',
    path: (model) => `/v2/models/${model}/infer`,
    contentType: 'application/octet-stream',
    headers: { 'inference-header-content-length': String(header.length) },
    body: Buffer.concat([header, data]),
    valid: validOipReply(expected),
  };
}

/** /ping from a worker thread: its own event loop, so the load generator cannot delay it. */
const PINGER = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let stopping = false;
const latencies = [];
let failures = 0;
parentPort.on('message', () => { stopping = true; });
function ping() {
  return new Promise((resolve) => {
    const start = performance.now();
    http.get(workerData.url, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? performance.now() - start : -1));
    }).on('error', () => resolve(-1));
  });
}
(async () => {
  while (!stopping) {
    const start = performance.now();
    const ms = await ping();
    if (ms < 0) failures++; else latencies.push(ms);
    const wait = workerData.every - (performance.now() - start);
    if (wait > 0) await new Promise((done) => setTimeout(done, wait));
  }
  agent.destroy();
  parentPort.postMessage({ latencies, failures });
})();
`;

/** One load phase against one model: what the clients saw, and what the machine and server did. */
export interface LoadResult {
  readonly sent: number;
  readonly ok: number;
  readonly statuses: Map<number, number>;
  readonly transportErrors: number;
  readonly badBodies: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly duplicateRequestIds: number;
  readonly elapsedMs: number;
  readonly latencies: number[];
  readonly pings: number[];
  readonly pingFailures: number;
  readonly clientCpuMs: number;
  readonly serverCpuMs: number;
  readonly generatorLoopP99Ms: number;
  readonly otherCpuMs: number;
  readonly serverLoop: LoopStats | undefined;
  /** The change of each {@link scrape} figure of `model` over the phase. */
  readonly metrics: Record<string, number>;
}

/** Runs the clients against `model` with `request` for `ms`, then waits for every answer. */
export async function load(server: Server, model: string, request: RequestKind, ms: number): Promise<LoadResult> {
  const url = new URL(`${server.inference}${request.path(model)}`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const answers = new Map<number, number>();
  const requestIds = new Set<string>();
  const statuses = new Map<number, number>();
  const latencies: number[] = [];
  let nextId = 0;
  let ok = 0;
  let transportErrors = 0;
  let badBodies = 0;
  let duplicateRequestIds = 0;
  const before = await scrape(server.metrics, model);
  const pinger = new Worker(PINGER, { eval: true, workerData: { url: `${server.inference}/ping`, every: PING_EVERY_MS } });
  const pinged = new Promise<{ latencies: number[]; failures: number }>((resolve) => pinger.once('message', resolve));
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  await serverLoop(server);
  const clientCpu = process.cpuUsage();
  const serverCpu = processCpuMs(server.child.pid);
  const machine = machineBusyMs();
  const start = performance.now();
  const deadline = start + ms;
  const client = async () => {
    while (performance.now() < deadline) {
      const id = nextId++;
      answers.set(id, 0);
      const sentAt = performance.now();
      let reply: Reply;
      try {
        reply = await send(agent, url, request, id);
      } catch {
        transportErrors++;
        continue;
      }
      answers.set(id, answers.get(id)! + 1);
      latencies.push(performance.now() - sentAt);
      statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
      if (reply.requestId === undefined || requestIds.has(reply.requestId)) duplicateRequestIds++;
      else requestIds.add(reply.requestId);
      if (reply.status === 200 && request.valid(reply.body)) ok++;
      else if (reply.status === 200) badBodies++;
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  const elapsedMs = performance.now() - start;
  const usage = process.cpuUsage(clientCpu);
  const serverCpuMs = processCpuMs(server.child.pid) - serverCpu;
  const machineMs = machineBusyMs() - machine;
  const loopStats = await serverLoop(server);
  loop.disable();
  pinger.postMessage('stop');
  const pings = await pinged;
  await pinger.terminate();
  agent.destroy();
  const after = await scrape(server.metrics, model);
  const answerCounts = [...answers.values()];
  return {
    sent: answers.size,
    ok,
    statuses,
    transportErrors,
    badBodies,
    lost: answerCounts.filter((count) => count === 0).length,
    duplicated: answerCounts.filter((count) => count > 1).length,
    duplicateRequestIds,
    elapsedMs,
    latencies,
    pings: pings.latencies,
    pingFailures: pings.failures,
    clientCpuMs: (usage.user + usage.system) / 1000,
    serverCpuMs,
    otherCpuMs: machineMs - serverCpuMs - (usage.user + usage.system) / 1000,
    serverLoop: loopStats,
    generatorLoopP99Ms: loop.percentile(99) / 1e6,
    metrics: Object.fromEntries(Object.entries(after).map(([key, value]) => [key, value - before[key]!])),
  };
}
