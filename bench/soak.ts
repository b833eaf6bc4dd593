/**
 * `npm run bench:soak`: the server at saturation for a long while (issue 11, acceptance 6).
 *
 * A real `kiln serve --foreground` child (bench/server/child.ts) serves the PP-OCR orientation
 * classifier as `kiln demo` archives it (image_classifier, batchSize 8, maxBatchDelay 5 ms, one
 * worker; `--isolation process` puts its handler in a worker process). 64 keep-alive clients
 * PUT a rendered text-line PNG back to back for `--minutes` (default 10) after a 3 s warm-up.
 * Each minute prints requests/s, p50/p99 latency, errors (anything but a 200 with both labels)
 * and the RSS of the server with all its descendant processes; the end prints the RSS growth
 * from minute 1 to the last, the totals, the exact command and the machine. It stops by itself.
 *
 * Usage: npm run bench:soak [-- --minutes N] [-- --isolation thread|process]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModelArchive } from '../src/handlers/model-archive.js';
import { CLS_LABELS, renderDemoPage } from '../src/cli/demo-assets.js';
import { startServer, type Server } from './server/child.js';
import { validLabels } from './server/load.js';
import { BATCH, imageModelConfig, MAX_BATCH_DELAY_MS, MODEL_PATH } from './server/options.js';
import { runClients, type Bucket } from './soak/clients.js';
import { treeRss } from './soak/rss.js';

const MINUTES = Number(argument('--minutes', '10'));
const ISOLATION = argument('--isolation', 'thread');
const CLIENTS = 64;
const MINUTE_MS = 60_000;
const WARMUP_MS = 3000;
const MODEL = 'cls-soak';
/** Requests still in flight when a minute ends get this long before the minute is printed. */
const GRACE_MS = 2000;

function argument(name: string, fallback: string): string {
  const index = process.argv.indexOf(name);
  return index > 0 ? (process.argv[index + 1] ?? '') : fallback;
}

async function buildArchive(root: string, store: string): Promise<void> {
  writeFileSync(join(root, 'index_to_name.json'), CLS_LABELS);
  writeFileSync(join(root, 'model-config.yaml'), imageModelConfig(BATCH, ISOLATION as 'thread' | 'process'));
  await createModelArchive({
    modelName: MODEL,
    version: '1.0',
    serializedFile: MODEL_PATH,
    handler: 'image_classifier',
    extraFiles: [join(root, 'index_to_name.json')],
    configFile: join(root, 'model-config.yaml'),
    exportPath: store,
    format: 'default',
    force: true,
  });
}

async function register(server: Server): Promise<void> {
  const response = await fetch(`${server.management}/models?url=${MODEL}.mar&initial_workers=1&synchronous=true`, { method: 'POST' });
  if (response.status !== 200) throw new Error(`register ${MODEL}: ${response.status} ${await response.text()}`);
}

const percentile = (sorted: readonly number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]! : Number.NaN);
const mib = (bytes: number) => bytes / 2 ** 20;
const pad = (value: string, width: number) => value.padStart(width);

function row(minute: string, requests: number, seconds: number, latencies: number[], errors: number, rss: string): string {
  const sorted = [...latencies].sort((a, b) => a - b);
  return [pad(minute, 6), pad((requests / seconds).toFixed(1), 8), pad(percentile(sorted, 50).toFixed(1), 8), pad(percentile(sorted, 99).toFixed(1), 8), pad(String(errors), 7), rss].join('  ');
}

function command(): string {
  const args = process.argv.slice(2).join(' ');
  return process.env['npm_lifecycle_event'] === 'bench:soak' ? `npm run bench:soak${args ? ` -- ${args}` : ''}` : `npx tsx bench/soak.ts ${args}`.trim();
}

async function main(): Promise<void> {
  if (!(MINUTES > 0) || !['thread', 'process'].includes(ISOLATION)) throw new Error('usage: --minutes N (> 0) --isolation thread|process');
  const root = mkdtempSync(join(tmpdir(), 'kiln-soak-'));
  const store = join(root, 'model_store');
  mkdirSync(store);
  await buildArchive(root, store);
  const png = await renderDemoPage(['kiln takes ONNX models to production']);
  const server = await startServer(root, store);
  try {
    await register(server);
    const load = { url: new URL(`${server.inference}/predictions/${MODEL}`), body: png, clients: CLIENTS, timeoutMs: 60_000, valid: validLabels };
    console.log(`soak: ${CLIENTS} clients PUT a ${png.length}-byte PNG to /predictions/${MODEL} (image_classifier, batchSize ${BATCH}, maxBatchDelay ${MAX_BATCH_DELAY_MS} ms, handler in a ${ISOLATION}) for ${MINUTES} min after a ${WARMUP_MS / 1000} s warm-up`);
    await runClients({ ...load, ms: WARMUP_MS, bucketMs: WARMUP_MS }, () => ({ ok: 0, errors: 0, latencies: [], samples: [] }));
    console.log(`${pad('minute', 6)}  ${pad('req/s', 8)}  ${pad('p50 ms', 8)}  ${pad('p99 ms', 8)}  ${pad('errors', 7)}  server RSS MiB (processes)`);
    await soak(server, load);
  } finally {
    const code = await server.stop();
    if (code !== 0) console.log(`server exited with ${code}: ${server.stderr().slice(-2000)}`);
    rmSync(root, { recursive: true, force: true });
  }
}

async function soak(server: Server, load: Omit<Parameters<typeof runClients>[0], 'ms' | 'bucketMs'>): Promise<void> {
  const totalMs = MINUTES * MINUTE_MS;
  const count = Math.ceil(totalMs / MINUTE_MS);
  const buckets: Bucket[] = Array.from({ length: count }, () => ({ ok: 0, errors: 0, latencies: [], samples: [] }));
  const rss: number[] = [];
  const seconds = (index: number) => Math.min(MINUTE_MS, totalMs - index * MINUTE_MS) / 1000;
  const print = (index: number) => {
    const bucket = buckets[index]!;
    const sample = treeRss(server.child.pid!);
    rss[index] = sample.bytes;
    console.log(row(String(index + 1), bucket.ok + bucket.errors, seconds(index), bucket.latencies, bucket.errors, `${mib(sample.bytes).toFixed(0)} (${sample.processes})`));
    for (const what of bucket.samples) console.log(`        error: ${what}`);
  };
  // Each minute is printed once the requests sent in it have had time to finish.
  const timers = buckets.slice(0, -1).map((_, index) => setTimeout(() => print(index), (index + 1) * MINUTE_MS + GRACE_MS));
  await runClients({ ...load, ms: totalMs, bucketMs: MINUTE_MS }, (index) => buckets[Math.min(index, count - 1)]!);
  timers.forEach(clearTimeout);
  for (let index = 0; index < count; index++) if (rss[index] === undefined) print(index);
  const all = buckets.flatMap((bucket) => bucket.latencies).sort((a, b) => a - b);
  const requests = buckets.reduce((sum, bucket) => sum + bucket.ok + bucket.errors, 0);
  const errors = buckets.reduce((sum, bucket) => sum + bucket.errors, 0);
  const growth = ((rss[count - 1]! - rss[0]!) / rss[0]!) * 100;
  console.log(`RSS growth, minute 1 → ${count}: ${growth >= 0 ? '+' : ''}${growth.toFixed(1)} % (${mib(rss[0]!).toFixed(0)} → ${mib(rss[count - 1]!).toFixed(0)} MiB)`);
  console.log(`totals: ${requests} requests, ${errors} errors, ${(requests / (totalMs / 1000)).toFixed(1)} req/s, p50 ${percentile(all, 50).toFixed(1)} ms, p99 ${percentile(all, 99).toFixed(1)} ms`);
  console.log(`command: ${command()}`);
  console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} CPUs; node ${process.version}`);
}

await main();
