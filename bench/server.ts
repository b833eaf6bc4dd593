/**
 * `npm run bench:server`: the model server under load (issue 6, acceptance items 3 and 4),
 * measured side by side in one run.
 *
 * A real `kiln serve --foreground` runs as a child process (so the load generator does not share
 * its event loop) with two copies of the PP-OCR orientation classifier, built as `kiln demo`
 * builds it: `cls-b1` (batchSize 1) and `cls-b8` (batchSize 8, maxBatchDelay 5 ms), one worker
 * each. Then, in alternating rounds:
 *
 *   server b1 / server b8  64 keep-alive clients PUT a rendered text-line PNG to
 *                          /predictions/<model>, while a worker thread GETs /ping every 50 ms;
 *   raw ort                bare onnxruntime-node `session.run` on a [8,3,48,192] tensor made by the
 *                          handler's own preprocessing of that PNG, same threads (onnxruntime's
 *                          default, as the handler uses), same graph optimization;
 *   handler pipeline       the worker's serial work without HTTP: preprocess 8 PNGs, then run;
 *   preprocess only        decode + resize + normalize 8 PNGs (Promise.all, as the handler does);
 *   server tensor          a third copy, `cls-tensor`, archived with the `tensor` handler (batchSize
 *                          8, maxBatchDelay 5 ms, `handler.threads` = --threads): the 64 clients
 *                          POST a ready [1,3,48,192] float32 `.npy` (the image_classifier's
 *                          preprocessing of the same PNG, made once), as Triton's perf_analyzer
 *                          sends tensors, so only the server's own cost is measured;
 *   raw ort, N threads     bare `session.run` on [8,3,48,192] of that tensor, intraOpNumThreads =
 *                          --threads, as the `tensor` handler's Engine creates its session.
 *
 * Event loop: /ping latency as a client sees it, and the server's own event-loop delay and
 * utilization, read from a small probe loaded into the child with `--import` (SIGUSR2 dumps it).
 *
 * Integrity: every request carries a unique `x-bench-id`; each must get exactly one answer, a 200
 * whose JSON body has both labels; `x-request-id`s must be unique; and the server's own counters
 * must agree: requests counted by ts_inference_requests_total and requests dispatched in batches
 * (kiln_batch_size_sum) both equal the answers the clients got. A tensor answer must also carry
 * the probabilities the raw session gives for that tensor (within 1e-5).
 *
 * Usage: npm run bench:server [-- --seconds N] [-- --rounds R] [-- --threads T] [-- --tensor-only]
 *   --seconds: measured seconds per configuration (default 30), split into R rounds (default 3);
 *   --threads: intra-op threads of the tensor comparison, server and raw alike (default: the
 *              machine's available parallelism);
 *   --tensor-only: only the tensor-request comparison (server tensor and raw ort, N threads).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { runArchive } from '../src/cli/commands/archive.js';
import { CLS_LABELS, renderDemoPage } from '../src/cli/demo-assets.js';
import { ppOcrAssetsDir } from '../src/cli/default-models.js';
import { table } from '../src/cli/format.js';
import type { CliIO } from '../src/cli/io.js';
import { quantile } from '../src/evaluate/latency.js';
import { decodeImage, ImageTransformSchema, imageToTensor, type ImageTransform } from '../src/handlers/image.js';
import { runtimeVersion } from '../src/runtime/index.js';
import { encodeNpy } from '../test/fixtures/npy.js';

function flag(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  const value = index > 0 ? Number(process.argv[index + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
}

const SECONDS = flag('--seconds', 30);
const ROUNDS = Math.round(flag('--rounds', 3));
const ROUND_MS = (SECONDS * 1000) / ROUNDS;
const THREADS = Math.round(flag('--threads', availableParallelism()));
/** False with --tensor-only: skip the image (PNG) configurations. */
const IMAGES = !process.argv.includes('--tensor-only');
const TENSOR_MODEL = 'cls-tensor';
const CLIENTS = 64;
const PING_EVERY_MS = 50;
const BATCH = 8;
const MAX_BATCH_DELAY_MS = 5;
const WARMUP_MS = 2000;
/** A request with no answer after this long counts as lost. */
const REQUEST_TIMEOUT_MS = 60_000;
const LABELS = Object.values(JSON.parse(CLS_LABELS) as Record<string, string>);
const MODEL_PATH = join(ppOcrAssetsDir(), 'ch_ppocr_mobile_v2.0_cls_infer.onnx');
/** The demo's model-config.yaml, with the batch settings of each copy. */
const imageModelConfig = (batchSize: number) =>
  [
    `batchSize: ${batchSize}`,
    `maxBatchDelay: ${MAX_BATCH_DELAY_MS}`,
    'handler:',
    '  image:',
    '    size: [48, 192]',
    '    fit: pad',
    '    mean: [0.5, 0.5, 0.5]',
    '    std: [0.5, 0.5, 0.5]',
    '    channelOrder: BGR',
    '  topk: 2',
    '',
  ].join('\n');
/** The tensor copy: the same batching, the `tensor` handler with the raw loop's threads. */
const tensorModelConfig = () => [`batchSize: ${BATCH}`, `maxBatchDelay: ${MAX_BATCH_DELAY_MS}`, 'handler:', `  threads: ${THREADS}`, ''].join('\n');
const TRANSFORM = { ...ImageTransformSchema.parse({ size: [48, 192], fit: 'pad', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], channelOrder: 'BGR' }), size: [48, 192] } as ImageTransform;

const sorted = (values: readonly number[]) => [...values].sort((a, b) => a - b);
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

// ---- the server under test ------------------------------------------------------------------

interface Server {
  readonly inference: string;
  readonly management: string;
  readonly metrics: string;
  readonly child: ChildProcess;
  stderr(): string;
  loop(): LoopStats | undefined;
  stop(): Promise<number | null>;
}

async function startServer(root: string, store: string): Promise<Server> {
  const config = join(root, 'config.properties');
  writeFileSync(
    config,
    ['inference_address=http://127.0.0.1:0', 'management_address=http://127.0.0.1:0', 'metrics_address=http://127.0.0.1:0', `model_store=${store}`].join('\n'),
  );
  const kiln = new URL('../bin/kiln.mjs', import.meta.url).pathname;
  const probe = join(root, 'loop-probe.mjs');
  const loopFile = join(root, 'loop.json');
  writeFileSync(probe, LOOP_PROBE);
  const child = spawn(process.execPath, ['--import', pathToFileURL(probe).href, kiln, 'serve', '--foreground', '--ncs', '--ts-config', config], {
    env: { ...process.env, LOG_LOCATION: join(root, 'logs'), KILN_LOG_LEVEL: 'warn', KILN_BENCH_LOOP_FILE: loopFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`kiln serve exited with ${code}: ${stderr}`)));
  });
  const found = (api: string) => new RegExp(`${api} (http://\\S+?)(,|$)`).exec(line)?.[1] ?? '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    inference: found('inference'),
    management: found('management'),
    metrics: found('metrics'),
    child,
    stderr: () => stderr,
    loop: () => {
      try {
        return JSON.parse(readFileSync(loopFile, 'utf8')) as LoopStats;
      } catch {
        return undefined;
      }
    },
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * Loaded into the server with `--import`: on SIGUSR2 it writes the event-loop delay (timer
 * lateness at 5 ms resolution) and utilization since the previous signal, then resets them. It
 * measures the server's own loop, which /ping (also delayed by the network and the scheduler)
 * only approximates.
 */
const LOOP_PROBE = `
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
const out = process.env.KILN_BENCH_LOOP_FILE;
const delay = monitorEventLoopDelay({ resolution: 5 });
delay.enable();
let elu = performance.eventLoopUtilization();
let seq = 0;
process.on('SIGUSR2', () => {
  const used = performance.eventLoopUtilization(elu);
  writeFileSync(out, JSON.stringify({ seq: ++seq, p50: delay.percentile(50) / 1e6, p99: delay.percentile(99) / 1e6, max: delay.max / 1e6, elu: used.utilization }));
  delay.reset();
  elu = performance.eventLoopUtilization();
});
`;

interface LoopStats {
  readonly seq: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly elu: number;
}

/** Asks the server's loop probe for its figures since the last call (and resets them). */
async function serverLoop(server: Server): Promise<LoopStats | undefined> {
  const previous = server.loop()?.seq ?? 0;
  server.child.kill('SIGUSR2');
  for (let attempt = 0; attempt < 200; attempt++) {
    const stats = server.loop();
    if (stats && stats.seq > previous) return stats;
    await sleep(5);
  }
  return undefined;
}

/** Busy time of the whole machine in ms (Linux /proc/stat, steal included), or NaN elsewhere. */
function machineBusyMs(): number {
  try {
    const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = ticks as number[];
    return ((user! + nice! + system! + irq! + softirq! + (steal ?? 0)) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

/** utime + stime of a process in ms (Linux /proc), or NaN elsewhere. */
function processCpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // After "pid (comm) ", utime and stime are fields 12 and 13 (0-based), in clock ticks (100 Hz).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Sums and counts of the histograms and counters this bench reads, for one model. */
async function scrape(metricsUrl: string, model: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const read = (family: string) =>
    text
      .split('\n')
      .filter((line) => line.startsWith(`${family}{`) && line.includes(`model_name="${model}"`))
      .reduce((total, line) => total + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  return {
    batchSum: read('kiln_batch_size_sum'),
    batchCount: read('kiln_batch_size_count'),
    handlerSum: read('kiln_inference_latency_seconds_sum'),
    handlerCount: read('kiln_inference_latency_seconds_count'),
    queueSum: read('kiln_queue_latency_seconds_sum'),
    requests: read('ts_inference_requests_total'),
  };
}

// ---- load generator -------------------------------------------------------------------------

interface Reply {
  readonly status: number;
  readonly body: string;
  readonly requestId: string | undefined;
}

/** What the clients send to one model, and how they judge a 200's body. */
interface RequestKind {
  readonly method: 'PUT' | 'POST';
  readonly contentType: string;
  readonly body: Buffer;
  valid(text: string): boolean;
}

function send(agent: http.Agent, url: URL, request: RequestKind, id: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: request.method,
        agent,
        headers: { 'content-type': request.contentType, 'content-length': request.body.length, 'x-bench-id': String(id) },
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

function validLabels(text: string): boolean {
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    return LABELS.every((label) => typeof body[label] === 'number') && Object.keys(body).length === LABELS.length;
  } catch {
    return false;
  }
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

interface LoadResult {
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
  readonly metrics: Record<string, number>;
}

/** A `tensor` handler answer: one [1, C] output whose values are `expected` (within 1e-5). */
function validTensorReply(output: string, expected: Float32Array): (text: string) => boolean {
  return (text) => {
    try {
      const tensor = (JSON.parse(text) as { outputs: Record<string, { dims: number[]; data: number[] }> }).outputs[output]!;
      return tensor.dims.join() === `1,${expected.length}` && tensor.data.length === expected.length && tensor.data.every((value, index) => Math.abs(value - expected[index]!) <= 1e-5);
    } catch {
      return false;
    }
  };
}

async function load(server: Server, model: string, request: RequestKind, ms: number): Promise<LoadResult> {
  const url = new URL(`${server.inference}/predictions/${model}`);
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

// ---- in-process comparisons -----------------------------------------------------------------

/** Runs `body` back to back for `ms`; also records this process's event-loop delay meanwhile. */
async function loopFor(ms: number, body: () => Promise<unknown>): Promise<{ runs: number; elapsedMs: number; cpuMs: number; otherCpuMs: number; loopP99Ms: number; loopMaxMs: number }> {
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const cpu = process.cpuUsage();
  const machine = machineBusyMs();
  const start = performance.now();
  let runs = 0;
  while (performance.now() - start < ms) {
    await body();
    runs++;
  }
  const usage = process.cpuUsage(cpu);
  const cpuMs = (usage.user + usage.system) / 1000;
  delay.disable();
  return { runs, elapsedMs: performance.now() - start, cpuMs, otherCpuMs: machineBusyMs() - machine - cpuMs, loopP99Ms: delay.percentile(99) / 1e6, loopMaxMs: delay.max / 1e6 };
}

const preprocess = (png: Buffer) => Promise.all(Array.from({ length: BATCH }, () => imageToTensor(png, TRANSFORM)));

function batchTensor(tensors: readonly Float32Array[]): ort.Tensor {
  const data = new Float32Array(tensors.length * tensors[0]!.length);
  tensors.forEach((tensor, index) => data.set(tensor, index * tensor.length));
  return new ort.Tensor('float32', data, [tensors.length, 3, 48, 192]);
}

// ---- the run --------------------------------------------------------------------------------

interface Totals {
  items: number;
  /** Worst event-loop delay of the measuring process (in-process phases) or of the server (server phases). */
  loopMaxMs: number;
  ms: number;
  /** CPU of what is measured: the server child for server phases, this process otherwise. */
  cpuMs: number;
  otherCpuMs: number;
  /** Server phases only. */
  loads: LoadResult[];
}

function merge(results: readonly LoadResult[]) {
  const sum = (pick: (r: LoadResult) => number) => results.reduce((total, r) => total + pick(r), 0);
  const statuses = new Map<number, number>();
  for (const r of results) for (const [status, count] of r.statuses) statuses.set(status, (statuses.get(status) ?? 0) + count);
  const metric = (key: string) => sum((r) => r.metrics[key]!);
  const loops = results.map((r) => r.serverLoop).filter((stats): stats is LoopStats => stats !== undefined);
  return {
    sent: sum((r) => r.sent),
    ok: sum((r) => r.ok),
    statuses,
    errors: sum((r) => r.transportErrors + r.badBodies) + [...statuses].filter(([status]) => status !== 200).reduce((total, [, count]) => total + count, 0),
    lost: sum((r) => r.lost),
    duplicated: sum((r) => r.duplicated + r.duplicateRequestIds),
    latencies: sorted(results.flatMap((r) => r.latencies)),
    pings: sorted(results.flatMap((r) => r.pings)),
    pingFailures: sum((r) => r.pingFailures),
    elapsedMs: sum((r) => r.elapsedMs),
    clientCpuMs: sum((r) => r.clientCpuMs),
    serverCpuMs: sum((r) => r.serverCpuMs),
    generatorLoopP99Ms: Math.max(...results.map((r) => r.generatorLoopP99Ms)),
    /** Worst round's figures of the server's own event loop. */
    loopP99Ms: loops.length ? Math.max(...loops.map((l) => l.p99)) : Number.NaN,
    loopMaxMs: loops.length ? Math.max(...loops.map((l) => l.max)) : Number.NaN,
    loopUtilization: loops.length ? loops.reduce((total, l) => total + l.elu, 0) / loops.length : Number.NaN,
    batchSum: metric('batchSum'),
    batchCount: metric('batchCount'),
    /** Hand-over to answer per batch (a batch handed over early also waits for the one ahead). */
    roundTripMsPerBatch: (metric('handlerSum') / metric('handlerCount')) * 1000,
    queueMsPerRequest: (metric('queueSum') / metric('handlerCount')) * 1000,
    serverRequests: metric('requests'),
  };
}

const f = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '-');

async function buildArchives(root: string, store: string): Promise<void> {
  const quiet: CliIO = { out: () => undefined, err: (text) => process.stderr.write(text), interactive: false };
  writeFileSync(join(root, 'index_to_name.json'), CLS_LABELS);
  const copies = [
    ...(IMAGES ? [1, BATCH].map((batchSize) => ({ name: `cls-b${batchSize}`, handler: 'image_classifier', config: imageModelConfig(batchSize), extra: true })) : []),
    { name: TENSOR_MODEL, handler: 'tensor', config: tensorModelConfig(), extra: false },
  ];
  for (const copy of copies) {
    const dir = join(root, copy.name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'model-config.yaml'), copy.config);
    await runArchive(
      {
        modelName: copy.name,
        version: '1.0',
        serializedFile: MODEL_PATH,
        handler: copy.handler,
        ...(copy.extra ? { extraFiles: join(root, 'index_to_name.json') } : {}),
        configFile: join(dir, 'model-config.yaml'),
        exportPath: store,
        archiveFormat: 'default',
        force: true,
      },
      quiet,
    );
  }
}

async function register(server: Server, model: string, batchSize: number): Promise<void> {
  const response = await fetch(
    `${server.management}/models?url=${model}.mar&batch_size=${batchSize}&max_batch_delay=${MAX_BATCH_DELAY_MS}&initial_workers=1&synchronous=true`,
    { method: 'POST' },
  );
  if (response.status !== 200) throw new Error(`register ${model}: ${response.status} ${await response.text()}`);
  const [described] = (await (await fetch(`${server.management}/models/${model}`)).json()) as { batchSize: number; maxBatchDelay: number; workers: unknown[] }[];
  console.log(`server: ${model}: batchSize ${described?.batchSize}, maxBatchDelay ${described?.maxBatchDelay} ms, ${described?.workers.length} worker`);
}

const sessionOptions = (threads?: number): ort.InferenceSession.SessionOptions => ({
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
  logSeverityLevel: 3,
  ...(threads ? { intraOpNumThreads: threads } : {}),
});

async function main(): Promise<void> {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  console.log(`kiln bench:server — ${cpu} (${cpus().length} cores), node ${process.version}, onnxruntime-node ${runtimeVersion()}`);
  console.log(`${ROUNDS} alternating rounds of ${(ROUND_MS / 1000).toFixed(1)} s per configuration (${SECONDS} s each); ${CLIENTS} clients; /ping every ${PING_EVERY_MS} ms`);

  const root = mkdtempSync(join(tmpdir(), 'kiln-bench-server-'));
  const store = join(root, 'model_store');
  mkdirSync(store, { recursive: true });
  await buildArchives(root, store);
  const png = await renderDemoPage(['kiln takes ONNX models to production']);
  const server = await startServer(root, store);
  try {
    console.log(`server: kiln serve child pid ${server.child.pid}`);
    if (IMAGES) for (const batchSize of [1, BATCH]) await register(server, `cls-b${batchSize}`, batchSize);
    await register(server, TENSOR_MODEL, BATCH);

    // The same tensor the handler builds, batched as the server batches it; the session is
    // created as Engine creates it (onnxruntime's default threads, 'all' optimizations, CPU).
    const session = await ort.InferenceSession.create(MODEL_PATH, sessionOptions());
    const input = session.inputNames[0]!;
    const one = await imageToTensor(png, TRANSFORM);
    const feeds = { [input]: batchTensor(Array.from({ length: BATCH }, () => one)) };
    const pipelineStep = async () => session.run({ [input]: batchTensor(await preprocess(png)) });
    // The tensor comparison: explicit threads on both sides (the tensor handler's handler.threads).
    const threaded = await ort.InferenceSession.create(MODEL_PATH, sessionOptions(THREADS));
    const expected = (await threaded.run({ [input]: batchTensor([one]) }))[threaded.outputNames[0]!]!.data as Float32Array;
    const png64: RequestKind = { method: 'PUT', contentType: 'image/png', body: png, valid: validLabels };
    const npy: RequestKind = {
      method: 'POST',
      contentType: 'application/x-npy',
      body: encodeNpy('<f4', [1, 3, 48, 192], one),
      valid: validTensorReply(threaded.outputNames[0]!, expected),
    };
    console.log(`request bodies: ${png.length} byte PNG (one rendered text line); ${npy.body.length} byte .npy of its [1,3,48,192] float32 tensor; tensor threads ${THREADS}\n`);

    // Warm-up: every path once, not measured.
    if (IMAGES) {
      await load(server, 'cls-b1', png64, WARMUP_MS);
      await load(server, `cls-b${BATCH}`, png64, WARMUP_MS);
      await loopFor(WARMUP_MS / 2, () => session.run(feeds));
      await loopFor(WARMUP_MS / 2, pipelineStep);
    }
    await load(server, TENSOR_MODEL, npy, WARMUP_MS);
    await loopFor(WARMUP_MS / 2, () => threaded.run(feeds));

    const totals: Record<string, Totals> = {};
    const add = (name: string, items: number, ms: number, cpuMs: number, otherCpuMs: number, loopMaxMs: number, result?: LoadResult) => {
      const entry = (totals[name] ??= { items: 0, ms: 0, cpuMs: 0, otherCpuMs: 0, loopMaxMs: 0, loads: [] });
      entry.loopMaxMs = Math.max(entry.loopMaxMs, loopMaxMs);
      entry.items += items;
      entry.ms += ms;
      entry.cpuMs += cpuMs;
      entry.otherCpuMs += otherCpuMs;
      if (result) entry.loads.push(result);
    };
    const serve = async (name: string, model: string, request: RequestKind) => {
      const result = await load(server, model, request, ROUND_MS);
      add(name, result.ok, result.elapsedMs, result.serverCpuMs, result.otherCpuMs, result.serverLoop?.max ?? Number.NaN, result);
    };
    const loopRound = async (name: string, ms: number, body: () => Promise<unknown>) => {
      const r = await loopFor(ms, body);
      add(name, r.runs * BATCH, r.elapsedMs, r.cpuMs, r.otherCpuMs, r.loopMaxMs);
    };
    for (let round = 0; round < ROUNDS; round++) {
      if (IMAGES) {
        for (const batchSize of [1, BATCH]) await serve(`server b${batchSize}`, `cls-b${batchSize}`, png64);
        await loopRound('raw ort', ROUND_MS, () => session.run(feeds));
        await loopRound('handler pipeline', ROUND_MS, pipelineStep);
        await loopRound('preprocess only', Math.min(ROUND_MS, 3000), () => preprocess(png));
      }
      await serve('server tensor', TENSOR_MODEL, npy);
      await loopRound(`raw ort, ${THREADS} threads`, ROUND_MS, () => threaded.run(feeds));
      process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
    }

    const rate = (name: string) => (totals[name]!.items * 1000) / totals[name]!.ms;
    const cores = (name: string, pick: (t: Totals) => number) => f(pick(totals[name]!) / totals[name]!.ms, 2);
    const models: [string, string, ReturnType<typeof merge>][] = [
      ...(IMAGES
        ? ([
            ['cls-b1', 'server b1', merge(totals['server b1']!.loads)],
            [`cls-b${BATCH}`, `server b${BATCH}`, merge(totals[`server b${BATCH}`]!.loads)],
          ] as [string, string, ReturnType<typeof merge>][])
        : []),
      [TENSOR_MODEL, 'server tensor', merge(totals['server tensor']!.loads)],
    ];
    printServers(models, rate, cores);
    if (IMAGES) {
      const breakdown = await preprocessingBreakdown(png, session, feeds);
      printImageComparison(rate, cores, totals, models[1]![2], breakdown);
    }
    printTensorComparison(rate, cores, totals, models.at(-1)![2]);
    await threaded.release();
    await session.release();
  } finally {
    const code = await server.stop();
    const stderr = server.stderr().trim();
    if (stderr) console.log(`\nserver stderr (first lines):\n${stderr.split('\n').slice(0, 6).join('\n')}`);
    console.log(`server exit code after SIGTERM: ${code}`);
    rmSync(root, { recursive: true, force: true });
  }
}

type Rate = (name: string) => number;
type Cores = (name: string, pick: (t: Totals) => number) => string;

function printServers(models: readonly [string, string, ReturnType<typeof merge>][], rate: Rate, cores: Cores): void {
  console.log('\n1. 64 clients against a kiln serve child: throughput, event loop, integrity');
  console.log(
    table(
      ['model', 'req/s', 'sent', 'ok', 'errors', 'lost', 'dup', 'ping p50', 'ping p99', 'ping max', 'loop p99', 'loop max', 'loop util', 'req p50', 'req p99', 'mean batch'],
      models.map(([model, name, m]) => [
        model,
        f(rate(name)),
        String(m.sent),
        String(m.ok),
        String(m.errors),
        String(m.lost),
        String(m.duplicated),
        f(quantile(m.pings, 0.5), 2),
        f(quantile(m.pings, 0.99), 2),
        f(m.pings.at(-1) ?? Number.NaN, 2),
        f(m.loopP99Ms, 2),
        f(m.loopMaxMs, 2),
        f(m.loopUtilization, 2),
        f(quantile(m.latencies, 0.5)),
        f(quantile(m.latencies, 0.99)),
        f(m.batchSum / m.batchCount, 2),
      ]),
    ),
  );
  console.log('(ms; ping = GET /ping every 50 ms from a worker thread; loop = the server\'s own event-loop delay, 5 ms resolution, worst round; loop util = event-loop utilization)');
  if (IMAGES) console.log(`batching gain (b${BATCH} / b1 throughput): ${(rate(`server b${BATCH}`) / rate('server b1')).toFixed(2)}x`);
  for (const [model, name, m] of models) {
    const statuses = [...m.statuses].map(([status, count]) => `${status}×${count}`).join(', ');
    console.log(
      `${model}: statuses ${statuses || 'none'}; answers/server-counted/batched ${m.ok}/${m.serverRequests}/${m.batchSum} in ${m.batchCount} batches; ` +
        `${m.pings.length} pings (${m.pingFailures} failed); worker round trip ${f(m.roundTripMsPerBatch, 2)} ms/batch, queue ${f(m.queueMsPerRequest)} ms/request; ` +
        `CPU: server ${cores(name, (t) => t.cpuMs)}, load generator ${f(m.clientCpuMs / m.elapsedMs, 2)} (its loop p99 ${f(m.generatorLoopP99Ms)} ms), other processes ${cores(name, (t) => t.otherCpuMs)} cores`,
    );
  }
}

/** Where preprocessing goes, once, briefly (not alternated). */
async function preprocessingBreakdown(png: Buffer, session: ort.InferenceSession, feeds: Record<string, ort.Tensor>): Promise<string[][]> {
  const breakdown: string[][] = [];
  const once = async (name: string, items: number, body: () => Promise<unknown>, includes: string) => {
    const r = await loopFor(1500, body);
    breakdown.push([name, f(r.elapsedMs / r.runs / items, 3), f(r.cpuMs / r.elapsedMs, 2), f(r.otherCpuMs / r.elapsedMs, 2), f(r.loopMaxMs, 1), includes]);
  };
  await once('decode, 1 at a time', 1, () => decodeImage(png), 'sharp: PNG -> raw RGB (rotate, flatten, sRGB)');
  await once('decode, 8 in parallel', BATCH, () => Promise.all(Array.from({ length: BATCH }, () => decodeImage(png))), 'the same, Promise.all as the handler does');
  const decoded = await decodeImage(png);
  const usedWidth = Math.min(192, Math.ceil((48 * decoded.width) / decoded.height));
  await once(
    'resize, 1 at a time',
    1,
    () => sharp(decoded.data, { raw: { width: decoded.width, height: decoded.height, channels: 3 } }).resize(usedWidth, 48, { fit: 'fill', kernel: 'cubic' }).raw().toBuffer(),
    `sharp: raw ${decoded.width}x${decoded.height} -> ${usedWidth}x48 cubic, as the handler's pad fit does`,
  );
  await once('imageToTensor, 1 at a time', 1, () => imageToTensor(png, TRANSFORM), 'decode + cubic resize to 48 high + normalize (JS loop)');
  await once('imageToTensor, 8 in parallel', BATCH, () => preprocess(png), 'the handler\'s preprocess for a batch of 8');
  const oneThread = await ort.InferenceSession.create(MODEL_PATH, sessionOptions(1));
  await once('session.run b8, 1 thread', BATCH, () => oneThread.run(feeds), 'for reference: the server uses the default (one per core)');
  await once('session.run b8, default', BATCH, () => session.run(feeds), 'the raw figure again, in this short window');
  await oneThread.release();
  return breakdown;
}

function printImageComparison(rate: Rate, cores: Cores, totals: Record<string, Totals>, b8: ReturnType<typeof merge>, breakdown: string[][]): void {
  console.log(`\n2. server vs raw onnxruntime-node, batch ${BATCH}, same model, same threads (onnxruntime default), same duration`);
  const raw = rate('raw ort');
  const what: Record<string, string> = {
    [`server b${BATCH}`]: 'HTTP + PNG decode + resize + normalize + ORT run + JSON; load generator on the same cores',
    'handler pipeline': 'preprocess 8 PNGs, then ORT run, one after the other as the worker does; no HTTP',
    'raw ort': 'session.run on a ready [8,3,48,192] tensor, nothing else',
    'preprocess only': 'sharp decode + resize + normalize of 8 PNGs (Promise.all)',
  };
  console.log(rateTable(what, raw, rate, cores, totals));
  console.log('(CPU cores: the server child for the server row, this process otherwise; others: every other process on the machine; loop max: the worst event-loop delay of that process)');
  const ratio = rate(`server b${BATCH}`) / raw;
  console.log(`server(image)/raw throughput: ${ratio.toFixed(3)} (acceptance: >= 0.9)${ratio < 0.9 ? ' — BELOW 0.9' : ''}`);
  const rawMs = (BATCH * 1000) / raw;
  const preMs = (BATCH * 1000) / rate('preprocess only');
  console.log(
    `per batch of ${BATCH}: ORT ${rawMs.toFixed(2)} ms + preprocessing ${preMs.toFixed(2)} ms = ${(rawMs + preMs).toFixed(2)} ms if serial; ` +
      `the worker's round trip was ${f(b8.roundTripMsPerBatch, 2)} ms/batch; the server answered a batch every ${f((BATCH * 1000) / rate(`server b${BATCH}`), 2)} ms`,
  );

  console.log('\n3. preprocessing breakdown (1.5 s each, not alternated)');
  console.log(table(['step', 'ms per image', 'CPU cores', 'others', 'loop max ms', 'includes'], breakdown));
  console.log('(loop max: the longest this process\'s event loop was held up during the step; session.run of onnxruntime-node runs on the calling thread inside a setImmediate)');
}

/** One row per measured configuration: rate, time per batch, CPU, loop delay, ratio to raw. */
function rateTable(what: Record<string, string>, raw: number, rate: Rate, cores: Cores, totals: Record<string, Totals>): string {
  return table(
    ['measured', 'items/s', 'ms per 8', 'CPU cores', 'others', 'loop max ms', '/raw', 'includes'],
    Object.keys(what).map((name) => [
      name,
      f(rate(name)),
      f((BATCH * 1000) / rate(name), 2),
      cores(name, (t) => t.cpuMs),
      cores(name, (t) => t.otherCpuMs),
      f(totals[name]!.loopMaxMs, 1),
      f(rate(name) / raw, 3),
      what[name]!,
    ]),
  );
}

function printTensorComparison(rate: Rate, cores: Cores, totals: Record<string, Totals>, m: ReturnType<typeof merge>): void {
  const rawName = `raw ort, ${THREADS} threads`;
  console.log(`\n4. tensor requests: server vs raw onnxruntime-node, batch ${BATCH}, same input tensor, ${THREADS} intra-op threads on both sides, same duration`);
  const raw = rate(rawName);
  const what: Record<string, string> = {
    'server tensor': `HTTP + .npy decode + batching + worker-thread hop + ORT run + JSON; load generator (${f(m.clientCpuMs / m.elapsedMs, 2)} core) on the same cores`,
    [rawName]: `session.run on a ready [${BATCH},3,48,192] tensor, nothing else`,
  };
  console.log(rateTable(what, raw, rate, cores, totals));
  console.log('(CPU cores: the server child for the server row, this process for the raw row; others: every other process on the machine, neither the server nor this bench)');
  const serverMs = (BATCH * 1000) / rate('server tensor');
  const rawMs = (BATCH * 1000) / raw;
  console.log(
    `the server answered a batch of ${BATCH} every ${serverMs.toFixed(2)} ms, raw session.run took ${rawMs.toFixed(2)} ms: ${(serverMs - rawMs).toFixed(2)} ms per batch is the server's cost ` +
      `(HTTP, .npy, the thread hop, JSON, and the CPU it takes from onnxruntime); mean batch ${f(m.batchSum / m.batchCount, 2)}, worker round trip ${f(m.roundTripMsPerBatch, 2)} ms/batch`,
  );
  const ratio = rate('server tensor') / raw;
  console.log(`server(tensor)/raw throughput: ${ratio.toFixed(3)} (acceptance: >= 0.9)${ratio < 0.9 ? ' — BELOW 0.9' : ''}`);
}

await main();
