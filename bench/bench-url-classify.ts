/**
 * `npm run bench:url-classify [-- --seconds N] [-- --rounds R]`: acceptance 5 of issue 14 on
 * the image path. Does `kiln bench --url` measure what bench:server's classify harness measures,
 * against kiln AND against the hand-written server? Both servers run as children (as in the
 * classify suite: MobileNetV2 FP32, one 224×224 JPEG body); then, in alternating rounds, each
 * server gets the same 64-client load from the harness's own clients (bench/server/clients.ts
 * `drive`) and from a `kiln bench --url --concurrency 64` child. Prints requests/s and p50/p99 of
 * each, and bench --url / harness for both servers.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { quantile } from '../src/evaluate/latency.js';
import { startHandwritten, startServer } from './server/child.js';
import { buildClassifyModels, imageSet } from './server/classify-setup.js';
import { drive } from './server/clients.js';
import { ROUND_MS, ROUNDS } from './server/options.js';

const KILN = new URL('../bin/kiln.mjs', import.meta.url).pathname;
const MODEL = 'mnv2-fp32';
const CLIENTS = 64;

interface Sample {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
}

const f = (value: number, digits = 1) => value.toFixed(digits);
const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function main(): Promise<void> {
  console.log(`bench-url-classify — ${cpus()[0]?.model.trim()} (${cpus().length} cores), node ${process.version}, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`${ROUNDS} alternating rounds of ${f(ROUND_MS / 1000)} s per configuration; ${CLIENTS} clients; ${MODEL}, one 224×224 JPEG`);
  const root = mkdtempSync(join(tmpdir(), 'kiln-bench-url-classify-'));
  const store = join(root, 'model_store');
  mkdirSync(store);
  const calibration = (await imageSet('calibration', 640, 480, 8, 3000)).bodies;
  const paths = await buildClassifyModels(root, store, calibration);
  const [body] = (await imageSet('224×224', 224, 224, 1, 1000)).bodies;
  const file = join(root, 'photo.jpg');
  writeFileSync(file, body!);
  const kiln = await startServer(root, store, ['load_models=all']);
  const hand = await startHandwritten(paths);
  try {
    for (;;) {
      const described = (await (await fetch(`${kiln.management}/models/${MODEL}`)).json()) as { workers: { status: string }[] }[];
      if (described[0]?.workers.some((worker) => worker.status === 'READY')) break;
      await sleep(100);
    }
    const servers = { kiln: { base: kiln.inference, pid: kiln.child.pid }, 'hand-written': { base: hand.url, pid: hand.child.pid } };
    const harness = async (base: string, pid: number | undefined): Promise<Sample> => {
      const result = await drive(base, MODEL, [body!], CLIENTS, ROUND_MS, pid);
      if (result.errors > 0) throw new Error(`harness: ${result.errors} errors`);
      const sorted = [...result.latencies].sort((a, b) => a - b);
      return { rps: (result.windowOk * 1000) / result.windowMs, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
    };
    const benchUrl = (base: string): Sample => {
      const args = ['bench', '--url', `${base}/predictions/${MODEL}`, '--input', file, '--concurrency', String(CLIENTS), '--duration', String(ROUND_MS / 1000), '--warmup', '0', '--json'];
      const run = spawnSync(process.execPath, [KILN, ...args], { encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`kiln bench --url: ${run.stderr}`);
      const [level] = (JSON.parse(run.stdout) as { results: { requestsPerSecond: number; p50Ms: number; p99Ms: number; errors: number }[] }).results;
      if (!level || level.errors > 0) throw new Error(`kiln bench --url: ${level?.errors} errors`);
      return { rps: level.requestsPerSecond, p50: level.p50Ms, p99: level.p99Ms };
    };
    for (const { base, pid } of Object.values(servers)) await drive(base, MODEL, [body!], CLIENTS, 2000, pid);
    const samples: Record<string, Sample[]> = {};
    const add = (name: string, sample: Sample) => (samples[name] ??= []).push(sample);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, { base, pid }] of Object.entries(servers)) {
        add(`${name} harness`, await harness(base, pid));
        add(`${name} bench --url`, benchUrl(base));
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
    }
    console.log('\nconfiguration                req/s   p50 ms   p99 ms   (mean of rounds; req/s per round)');
    for (const [name, list] of Object.entries(samples)) {
      console.log(`${name.padEnd(26)} ${f(mean(list.map((s) => s.rps))).padStart(7)} ${f(mean(list.map((s) => s.p50))).padStart(8)} ${f(mean(list.map((s) => s.p99))).padStart(8)}   ${list.map((s) => f(s.rps)).join(' / ')}`);
    }
    for (const name of Object.keys(servers)) {
      const ratio = (pick: (s: Sample) => number) => f(mean(samples[`${name} bench --url`]!.map(pick)) / mean(samples[`${name} harness`]!.map(pick)), 2);
      console.log(`${name}: bench --url / harness: req/s ${ratio((s) => s.rps)}×, p50 ${ratio((s) => s.p50)}×, p99 ${ratio((s) => s.p99)}×`);
    }
    console.log(`load after: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  } finally {
    await Promise.all([kiln.stop(), hand.stop()]);
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
