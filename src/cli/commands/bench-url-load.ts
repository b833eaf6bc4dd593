/**
 * One concurrency level of `kiln bench --url`: autocannon keeps N connections busy, and this
 * module measures what autocannon's own summary cannot give precisely enough.
 *
 * - Latency: autocannon times each response with `process.hrtime` (sub-millisecond) but files it
 *   in an integer HDR histogram whose smallest unit is 1 ms, so its percentiles are whole
 *   milliseconds — too coarse to compare p50s of 5–15 ms. Each client's `response` event still
 *   carries the float duration; we keep every 2xx one and take exact percentiles.
 * - The end: autocannon stops a run by destroying its sockets, dropping the requests in flight
 *   (the server still answers some of them, so its counters and ours would differ). We end a
 *   level by draining instead: when the duration is up each client may finish the request it has
 *   in flight and then stops (autocannon's own per-client request limit, set to what it has
 *   sent), so every request sent is a response counted.
 */
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { quantile } from '../../evaluate/latency.js';

/** One request a client sends (they cycle through the list). */
export interface BenchRequest {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/** What {@link runLevel} loads. */
export interface LevelOptions {
  /** `http://host:port`. */
  readonly origin: string;
  readonly path: string;
  readonly requests: readonly BenchRequest[];
  readonly connections: number;
  readonly durationS: number;
  /** Seconds before a request counts as timed out (and its connection is replaced). */
  readonly timeoutS: number;
  /** A 2xx body this returns false for counts as an error (e.g. not an OIP JSON response). */
  readonly verifyBody?: ((body: string) => boolean) | undefined;
  /** Called on every response with the running count (for a progress bar). */
  readonly onResponse?: ((responses: number) => void) | undefined;
}

/** The measured level. Times in milliseconds. */
export interface LevelResult {
  readonly concurrency: number;
  /** Responses received (any status). */
  readonly requests: number;
  readonly durationS: number;
  readonly requestsPerSecond: number;
  /** Percentiles of the 2xx responses' latencies (NaN when there was none). */
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly maxMs: number;
  /** non2xx + timeouts + connectionErrors + badBodies. */
  readonly errors: number;
  readonly non2xx: number;
  readonly timeouts: number;
  /** Connection failures other than timeouts (refused, reset). */
  readonly connectionErrors: number;
  /** 2xx responses whose body failed the check. */
  readonly badBodies: number;
  /** Responses by status code. */
  readonly statusCodes: Readonly<Record<string, number>>;
}

/** autocannon's Client fields the drain uses (not in its type declarations). */
interface DrainableClient extends autocannon.Client {
  reqsMade: number;
  responseMax: number | undefined;
}

/** Float latencies in a growable typed array: no per-sample allocation at thousands per second. */
class LatencyRecorder {
  #values = new Float64Array(4096);
  #count = 0;

  record(ms: number): void {
    if (this.#count === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#count++] = ms;
  }

  sorted(): number[] {
    return Array.from(this.#values.subarray(0, this.#count).sort());
  }
}

/** Runs one level and resolves once every request sent has been answered (or has failed). */
export async function runLevel(options: LevelOptions): Promise<LevelResult> {
  const clients: DrainableClient[] = [];
  const recorder = new LatencyRecorder();
  const statusCodes: Record<string, number> = {};
  let responses = 0;
  const verify = options.verifyBody;
  const start = performance.now();
  let last = start;
  const instance = autocannon({
    url: `${options.origin}${options.path}`,
    connections: options.connections,
    // A backstop only: the drain below ends the level, at most one timeout after the duration.
    duration: options.durationS + options.timeoutS + 5,
    timeout: options.timeoutS,
    // How often autocannon looks for its end: after the drain, at most this long is idle.
    sampleInt: 50,
    requests: options.requests.map((request) => ({ method: 'POST' as const, headers: { ...request.headers }, body: request.body })),
    ...(verify ? { verifyBody: (body: string | Buffer | undefined) => verify(String(body ?? '')) } : {}),
    setupClient: (client) => {
      clients.push(client as DrainableClient);
      client.on('response', (status: number, _bytes: number, ms: number) => {
        responses++;
        last = performance.now();
        statusCodes[status] = (statusCodes[status] ?? 0) + 1;
        if (status >= 200 && status < 300) recorder.record(ms);
        options.onResponse?.(responses);
      });
    },
  });
  const drain = setTimeout(() => {
    for (const client of clients) client.responseMax = Math.max(1, client.reqsMade);
  }, options.durationS * 1000);
  let result: autocannon.Result;
  try {
    result = await instance;
  } finally {
    clearTimeout(drain);
  }
  const latencies = recorder.sorted();
  const durationS = (last - start) / 1000;
  const ok = latencies.length;
  const non2xx = responses - ok;
  const timeouts = result.timeouts;
  const connectionErrors = result.errors - result.timeouts;
  const badBodies = result.mismatches;
  return {
    concurrency: options.connections,
    requests: responses,
    durationS,
    requestsPerSecond: durationS > 0 ? responses / durationS : 0,
    p50Ms: quantile(latencies, 0.5),
    p90Ms: quantile(latencies, 0.9),
    p99Ms: quantile(latencies, 0.99),
    meanMs: ok > 0 ? latencies.reduce((sum, ms) => sum + ms, 0) / ok : Number.NaN,
    maxMs: ok > 0 ? latencies[ok - 1]! : Number.NaN,
    errors: non2xx + result.errors + badBodies,
    non2xx,
    timeouts,
    connectionErrors,
    badBodies,
    statusCodes,
  };
}
