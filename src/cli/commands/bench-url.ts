/**
 * `kiln bench --url`: load a running server's model (TorchServe routes or OIP v2) at a sweep of
 * concurrency levels, as perf_analyzer and TorchServe's benchmark-ab do, and report requests/s,
 * latency percentiles and errors per level. autocannon generates the load (bench-url-load.ts);
 * this module resolves the flags, checks the target with one probe request, and reports.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Presets, SingleBar } from 'cli-progress';
import { KilnError } from '../../core/errors.js';
import { formatMs, table } from '../format.js';
import type { CliIO } from '../io.js';
import { fileRequests, generatedOipRequest, isOipJsonResponse, listInputFiles, metadataInputs } from './bench-url-inputs.js';
import { runLevel, type BenchRequest, type LevelResult } from './bench-url-load.js';
import type { BenchTarget } from './bench-url-target.js';

/** `kiln bench --url`'s flags, resolved (bench-url-flags.ts builds it). */
export interface BenchUrlConfig {
  readonly target: BenchTarget;
  /** `--input` files and folders; empty: generated inputs (OIP only). */
  readonly inputs: readonly string[];
  /** `--content-type`, for every request file; otherwise each file's extension decides. */
  readonly contentType: string | undefined;
  /** `--header` lines, sent with every request (a token: `Authorization: Bearer …`). */
  readonly headers: Readonly<Record<string, string>>;
  /** Generated OIP inputs travel with the binary tensor extension. */
  readonly binary: boolean;
  readonly concurrency: readonly number[];
  readonly durationS: number;
  readonly warmupS: number;
  readonly timeoutS: number;
  readonly dims: Readonly<Record<string, number>>;
  readonly shapes: Readonly<Record<string, readonly number[]>>;
  readonly seed: number;
  readonly json: boolean;
}

/** One level of the report. */
export interface BenchUrlLevel extends LevelResult {
  /** Responses during the level's warm-up (not in the figures, but the server saw them). */
  readonly warmupRequests: number;
}

/** The JSON document `kiln bench --url … --json` prints. */
export interface BenchUrlReport {
  readonly url: string;
  readonly protocol: BenchTarget['protocol'];
  readonly model: string;
  readonly version: string | null;
  /** What was sent: the request files, or the generated tensors. */
  readonly input: string;
  readonly loadGenerator: string;
  readonly cpu: string;
  readonly cores: number;
  readonly node: string;
  readonly durationS: number;
  readonly warmupS: number;
  /** The one request sent before the sweep to check the target (the server counted it too). */
  readonly probe: { readonly status: number; readonly ms: number };
  readonly results: readonly BenchUrlLevel[];
}

function unreachable(origin: string, error: unknown): KilnError {
  const reason = (error as NodeJS.ErrnoException)?.code ?? (error as Error)?.message ?? String(error);
  return new KilnError('KILN_CLI_BENCH_UNREACHABLE', `cannot reach ${origin}: ${reason}`, { cause: error });
}

/** The server's own words from an error body: TorchServe's `message`, OIP's `error`, or the text. */
function serverMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { message?: unknown; error?: unknown };
    const message = body.message ?? body.error;
    if (typeof message === 'string') return message;
  } catch {
    // not JSON: the text itself
  }
  return text.trim().slice(0, 200);
}

/**
 * One request with node:http (not fetch, whose "bad ports" list refuses 6000, 10080 and others a
 * server may well use); network failures become `KILN_CLI_BENCH_UNREACHABLE`.
 */
function send(target: BenchTarget, path: string, init: { method: string; headers: Readonly<Record<string, string>>; body?: Buffer }, timeoutS: number): Promise<{ status: number; text: string; ms: number }> {
  const started = performance.now();
  const request = (target.origin.startsWith('https:') ? httpsRequest : httpRequest)(`${target.origin}${path}`, {
    method: init.method,
    headers: { ...init.headers, ...(init.body ? { 'Content-Length': String(init.body.length) } : {}) },
    timeout: timeoutS * 1000,
  });
  return new Promise((resolve, reject) => {
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutS} s (--timeout)`)));
    request.on('error', (error) => reject(unreachable(target.origin, error)));
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', (error) => reject(unreachable(target.origin, error)));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }));
    });
    request.end(init.body);
  });
}

function modelLabel(target: BenchTarget): string {
  return `model '${target.model}'${target.version === undefined ? '' : ` version ${target.version}`}`;
}

/** A 404 is an unknown model; another 4xx a request the server will never take. */
function checkStatus(target: BenchTarget, what: string, status: number, text: string): void {
  if (status === 404) {
    throw new KilnError('KILN_CLI_BENCH_MODEL_NOT_FOUND', `${target.origin}${target.protocol === 'oip' ? target.metadataPath : target.inferPath}: ${modelLabel(target)} not found (${target.protocol}): ${serverMessage(text)}`);
  }
  if (status >= 400 && status < 500) {
    throw new KilnError('KILN_CLI_BENCH_REQUEST_REJECTED', `${what} got ${status} from ${target.origin}: ${serverMessage(text)}`);
  }
}

/** The requests to cycle through, and how to describe them. */
async function buildRequests(config: BenchUrlConfig): Promise<{ requests: BenchRequest[]; input: string }> {
  const { target } = config;
  if (config.inputs.length > 0) {
    const files = listInputFiles(config.inputs);
    const input = files.length === 1 ? files[0]! : `${files.length} files (${files[0]} …)`;
    return { requests: fileRequests(files, config.contentType, config.headers), input };
  }
  const metadata = await send(target, target.metadataPath, { method: 'GET', headers: config.headers }, config.timeoutS);
  checkStatus(target, 'the model metadata request', metadata.status, metadata.text);
  if (metadata.status !== 200) {
    throw new KilnError('KILN_CLI_BENCH_REQUEST_REJECTED', `the model metadata request got ${metadata.status} from ${target.origin}: ${serverMessage(metadata.text)}`);
  }
  let document: unknown;
  try {
    document = JSON.parse(metadata.text);
  } catch {
    document = undefined;
  }
  const inputs = metadataInputs(document, `${target.origin}${target.metadataPath}`);
  const { shapes, ...request } = generatedOipRequest(inputs, { dims: config.dims, shapes: config.shapes, seed: config.seed, binary: config.binary, label: modelLabel(target) }, config.headers);
  const described = inputs.map((input) => `${input.name} ${input.datatype}[${shapes[input.name]!.join(',')}] (declared [${input.shape.join(',')}])`).join(', ');
  return { requests: [request], input: `generated (seed ${config.seed}, ${config.binary ? 'binary tensor extension' : 'JSON'}): ${described}` };
}

function autocannonVersion(): string {
  const { version } = createRequire(import.meta.url)('autocannon/package.json') as { version: string };
  return `autocannon ${version}`;
}

/** Measures every concurrency level in turn (each after its own warm-up). */
export async function benchUrl(config: BenchUrlConfig, onProgress?: (clients: number, responses: number) => void): Promise<BenchUrlReport> {
  const { target } = config;
  const { requests, input } = await buildRequests(config);
  const first = requests[0]!;
  const probe = await send(target, target.inferPath, { method: 'POST', headers: first.headers, body: first.body }, config.timeoutS);
  checkStatus(target, 'the first request', probe.status, probe.text);
  // OIP JSON answers are checked to be OIP responses; binary ones and TorchServe's (any bytes a handler returns) are not.
  const verifyBody = target.protocol === 'oip' && !(config.binary && config.inputs.length === 0) ? isOipJsonResponse : undefined;
  const results: BenchUrlLevel[] = [];
  for (const concurrency of config.concurrency) {
    const level = (durationS: number) =>
      runLevel({
        origin: target.origin,
        path: target.inferPath,
        requests,
        connections: concurrency,
        durationS,
        timeoutS: config.timeoutS,
        verifyBody,
        onResponse: (responses) => onProgress?.(concurrency, responses),
      });
    const warmup = config.warmupS > 0 ? await level(config.warmupS) : undefined;
    const measured = await level(config.durationS);
    results.push({ ...measured, warmupRequests: warmup?.requests ?? 0 });
  }
  return {
    url: `${target.origin}${target.inferPath}`,
    protocol: target.protocol,
    model: target.model,
    version: target.version ?? null,
    input,
    loadGenerator: autocannonVersion(),
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    node: process.version,
    durationS: config.durationS,
    warmupS: config.warmupS,
    probe: { status: probe.status, ms: probe.ms },
    results,
  };
}

/** Renders the report for a terminal: one row per concurrency level. */
export function renderBenchUrl(report: BenchUrlReport): string {
  const ms = (value: number) => (Number.isFinite(value) ? formatMs(value) : '-');
  const rows = report.results.map((row) => [
    String(row.concurrency),
    String(row.requests),
    row.requestsPerSecond.toFixed(1),
    ms(row.p50Ms),
    ms(row.p90Ms),
    ms(row.p99Ms),
    String(row.errors),
  ]);
  const failures = report.results.filter((row) => row.errors > 0).map((row) => {
    const codes = Object.entries(row.statusCodes).filter(([code]) => !code.startsWith('2')).map(([code, count]) => `${count}× ${code}`);
    const parts = [...codes, row.timeouts ? `${row.timeouts} timeouts` : '', row.connectionErrors ? `${row.connectionErrors} connection errors` : '', row.badBodies ? `${row.badBodies} bodies not OIP JSON` : ''];
    return `errors at ${row.concurrency} clients: ${parts.filter(Boolean).join(', ')}`;
  });
  return [
    `url    ${report.url} (${report.protocol}, ${report.model}${report.version ? ` version ${report.version}` : ''})`,
    `input  ${report.input}`,
    `load   ${report.loadGenerator}, ${report.durationS} s per level after ${report.warmupS} s warm-up; client cpu ${report.cpu} (${report.cores} cores)`,
    '',
    table(['clients', 'requests', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'errors'], rows),
    ...(failures.length > 0 ? ['', ...failures] : []),
  ].join('\n');
}

/** `kiln bench --url URL …`. */
export async function runBenchUrl(config: BenchUrlConfig, io: CliIO): Promise<void> {
  const total = config.concurrency.length * (config.warmupS + config.durationS);
  const bar = io.interactive && !config.json ? new SingleBar({ format: 'bench [{bar}] {clients} clients, {responses} responses', hideCursor: true }, Presets.shades_classic) : undefined;
  const started = performance.now();
  let drawn = 0;
  bar?.start(total, 0, { clients: config.concurrency[0], responses: 0 });
  try {
    const report = await benchUrl(config, (clients, responses) => {
      const now = performance.now();
      if (!bar || now - drawn < 100) return; // thousands of responses a second: redraw ten times a second
      drawn = now;
      bar.update(Math.min(total, (now - started) / 1000), { clients, responses });
    });
    bar?.stop();
    io.out(config.json ? JSON.stringify(report, null, 2) : renderBenchUrl(report));
  } finally {
    bar?.stop();
  }
}
