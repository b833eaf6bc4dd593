/**
 * What `bench:server` prints: the per-model server table with its integrity lines (section 1),
 * the image comparison and preprocessing breakdown (2, 3), and the tensor comparison (4), from
 * the totals the alternating rounds accumulated.
 */
import { table } from '../../src/cli/format.js';
import { quantile } from '../../src/evaluate/latency.js';
import type { LoopStats } from './child.js';
import type { LoadResult } from './load.js';
import { BATCH, IMAGES, THREADS } from './options.js';

/** One configuration's sums over all rounds. */
export interface Totals {
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

/** Items per second of a configuration, by name. */
export type Rate = (name: string) => number;
/** A configuration's CPU figure (picked from its totals) in cores, formatted. */
export type Cores = (name: string, pick: (t: Totals) => number) => string;
/** One server configuration's rounds, merged. */
export type Merged = ReturnType<typeof merge>;

const sorted = (values: readonly number[]) => [...values].sort((a, b) => a - b);

/** A figure with `digits` decimals, or '-' when it is not a finite number. */
export const f = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '-');

/** Merges one server configuration's rounds: sums, worst loop figures, metric deltas. */
export function merge(results: readonly LoadResult[]) {
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

/** Section 1: one row per server configuration `[model, configuration, merged]`, then its integrity line. */
export function printServers(models: readonly [string, string, Merged][], rate: Rate, cores: Cores): void {
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

/** Sections 2 and 3: the image server against raw onnxruntime, and the preprocessing breakdown rows. */
export function printImageComparison(rate: Rate, cores: Cores, totals: Record<string, Totals>, b8: Merged, breakdown: string[][]): void {
  console.log(`\n2. server vs raw onnxruntime-node, batch ${BATCH}, same model, same threads (onnxruntime default), same duration`);
  const raw = rate('raw ort');
  const what: Record<string, string> = {
    [`server b${BATCH}`]: 'HTTP + PNG decode + resize + normalize + ORT run + JSON; load generator on the same cores',
    [`server b${BATCH} process`]: `as server b${BATCH}, with the handler in a worker process (IPC) instead of a worker thread`,
    'handler pipeline': 'preprocess 8 PNGs, then ORT run, one after the other as the worker does; no HTTP',
    'raw ort': 'session.run on a ready [8,3,48,192] tensor, nothing else',
    'preprocess only': 'sharp decode + resize + normalize of 8 PNGs (Promise.all)',
  };
  console.log(rateTable(what, raw, rate, cores, totals));
  console.log('(CPU cores: the server child for the server row, this process otherwise; others: every other process on the machine; loop max: the worst event-loop delay of that process)');
  const ratio = rate(`server b${BATCH}`) / raw;
  console.log(`server(image)/raw throughput: ${ratio.toFixed(3)} (acceptance: >= 0.9)${ratio < 0.9 ? ' — BELOW 0.9' : ''}`);
  const isolation = rate(`server b${BATCH} process`) / rate(`server b${BATCH}`);
  console.log(`process isolation: server b${BATCH} process / server b${BATCH} (thread) throughput: ${isolation.toFixed(3)}`);
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

/** Section 4: `.npy` and OIP binary tensor requests against raw `session.run` with the same threads. */
export function printTensorComparison(rate: Rate, cores: Cores, totals: Record<string, Totals>, m: Merged, oip: Merged): void {
  const rawName = `raw ort, ${THREADS} threads`;
  console.log(`\n4. tensor requests: server vs raw onnxruntime-node, batch ${BATCH}, same input tensor, ${THREADS} intra-op threads on both sides, same duration`);
  const raw = rate(rawName);
  const what: Record<string, string> = {
    'server tensor': `HTTP + .npy decode + batching + worker-thread hop + ORT run + JSON; load generator (${f(m.clientCpuMs / m.elapsedMs, 2)} core) on the same cores`,
    'server OIP binary': `HTTP + OIP JSON header and binary tensor decode + batching + worker-thread hop + ORT run + OIP JSON; load generator (${f(oip.clientCpuMs / oip.elapsedMs, 2)} core) on the same cores`,
    [rawName]: `session.run on a ready [${BATCH},3,48,192] tensor, nothing else`,
  };
  console.log(rateTable(what, raw, rate, cores, totals));
  console.log('(CPU cores: the server child for the server rows, this process for the raw row; others: every other process on the machine, neither the server nor this bench)');
  const serverMs = (BATCH * 1000) / rate('server tensor');
  const rawMs = (BATCH * 1000) / raw;
  console.log(
    `the server answered a batch of ${BATCH} every ${serverMs.toFixed(2)} ms, raw session.run took ${rawMs.toFixed(2)} ms: ${(serverMs - rawMs).toFixed(2)} ms per batch is the server's cost ` +
      `(HTTP, .npy, the thread hop, JSON, and the CPU it takes from onnxruntime); mean batch ${f(m.batchSum / m.batchCount, 2)}, worker round trip ${f(m.roundTripMsPerBatch, 2)} ms/batch`,
  );
  const ratio = rate('server tensor') / raw;
  console.log(`server(tensor)/raw throughput: ${ratio.toFixed(3)} (acceptance: >= 0.9)${ratio < 0.9 ? ' — BELOW 0.9' : ''}`);
  console.log(
    `server(OIP binary)/raw throughput: ${(rate('server OIP binary') / raw).toFixed(3)}; OIP binary / .npy: ${(rate('server OIP binary') / rate('server tensor')).toFixed(3)}; ` +
      `OIP mean batch ${f(oip.batchSum / oip.batchCount, 2)}, worker round trip ${f(oip.roundTripMsPerBatch, 2)} ms/batch`,
  );
}
