/**
 * `npx tsx bench/bench-url-parity.ts --tensor-only [--seconds N] [--rounds R]`: does `kiln bench --url` measure
 * what `npm run bench:server` measures? (issue 14, acceptance 5.) One `kiln serve` child with the
 * bench:server tensor models (PP-OCR orientation classifier, `tensor` handler, batch 8, 5 ms
 * delay); then, in alternating rounds, the same 64-client load from bench:server's own load
 * generator (bench/server/load.ts) and from `kiln bench --url --concurrency 64` (a CLI child),
 * on the same request bodies: a [1,3,48,192] float32 `.npy` over TorchServe's route and the same
 * tensor over OIP with the binary extension (`--tensor-only`, read by bench/server/options.ts,
 * skips archiving the image copies this does not use). Prints requests/s and p50/p99 of each, and the ratios.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderDemoPage } from '../src/cli/demo-assets.js';
import { quantile } from '../src/evaluate/latency.js';
import { encodeNpy } from '../test/fixtures/npy.js';
import { startServer } from './server/child.js';
import { imageToTensor } from './server/in-process.js';
import { load, oipBinaryRequest, predictionsPath, type RequestKind } from './server/load.js';
import { buildArchives, register } from './server/models.js';
import { BATCH, CLIENTS, OIP_MODEL, ROUND_MS, ROUNDS, TENSOR_MODEL, TRANSFORM } from './server/options.js';

const KILN = new URL('../bin/kiln.mjs', import.meta.url).pathname;

interface Sample {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
}

const f = (value: number, digits = 1) => value.toFixed(digits);
const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

async function main(): Promise<void> {
  console.log(`bench-url-parity — ${cpus()[0]?.model.trim()} (${cpus().length} cores), node ${process.version}, load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  console.log(`${ROUNDS} alternating rounds of ${f(ROUND_MS / 1000)} s per configuration; ${CLIENTS} clients`);
  const root = mkdtempSync(join(tmpdir(), 'kiln-bench-url-parity-'));
  const store = join(root, 'model_store');
  mkdirSync(store, { recursive: true });
  await buildArchives(root, store);
  const server = await startServer(root, store);
  try {
    await register(server, TENSOR_MODEL, BATCH);
    await register(server, OIP_MODEL, BATCH);
    const one = await imageToTensor(await renderDemoPage(['kiln takes ONNX models to production']), TRANSFORM);
    const npy: RequestKind = { method: 'POST', path: predictionsPath, contentType: 'application/x-npy', body: encodeNpy('<f4', [1, 3, 48, 192], one), valid: () => true };
    const oip = { ...oipBinaryRequest('x', [1, 3, 48, 192], one, new Float32Array()), valid: () => true };
    const npyFile = join(root, 'line.npy');
    const oipFile = join(root, 'line.oip');
    writeFileSync(npyFile, npy.body);
    writeFileSync(oipFile, oip.body);
    const cli: Record<string, string[]> = {
      npy: ['--url', `${server.inference}/predictions/${TENSOR_MODEL}`, '--input', npyFile, '--content-type', 'application/x-npy'],
      oip: ['--url', `${server.inference}/v2/models/${OIP_MODEL}/infer`, '--input', oipFile, '--content-type', 'application/octet-stream', '--header', `Inference-Header-Content-Length: ${oip.headers!['inference-header-content-length']}`],
    };
    const harness = async (model: string, kind: RequestKind): Promise<Sample> => {
      const result = await load(server, model, kind, ROUND_MS);
      const sorted = [...result.latencies].sort((a, b) => a - b);
      if (result.ok !== result.sent) throw new Error(`harness: ${result.sent - result.ok} of ${result.sent} requests failed`);
      return { rps: (result.ok * 1000) / result.elapsedMs, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
    };
    const benchUrl = (args: readonly string[]): Sample => {
      const run = spawnSync(process.execPath, [KILN, 'bench', ...args, '--concurrency', String(CLIENTS), '--duration', String(ROUND_MS / 1000), '--warmup', '0', '--json'], { encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`kiln bench --url: ${run.stderr}`);
      const [level] = (JSON.parse(run.stdout) as { results: { requestsPerSecond: number; p50Ms: number; p99Ms: number; errors: number }[] }).results;
      if (!level || level.errors > 0) throw new Error(`kiln bench --url: ${level?.errors} errors`);
      return { rps: level.requestsPerSecond, p50: level.p50Ms, p99: level.p99Ms };
    };
    // Warm-up, not measured.
    await load(server, TENSOR_MODEL, npy, 2000);
    await load(server, OIP_MODEL, oip, 2000);
    const samples: Record<string, Sample[]> = {};
    const add = (name: string, sample: Sample) => (samples[name] ??= []).push(sample);
    for (let round = 0; round < ROUNDS; round++) {
      add('npy harness', await harness(TENSOR_MODEL, npy));
      add('npy bench --url', benchUrl(cli['npy']!));
      add('oip harness', await harness(OIP_MODEL, oip));
      add('oip bench --url', benchUrl(cli['oip']!));
      process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
    }
    console.log('\nconfiguration          req/s   p50 ms   p99 ms   (mean of rounds; req/s per round)');
    for (const [name, list] of Object.entries(samples)) {
      console.log(`${name.padEnd(20)} ${f(mean(list.map((s) => s.rps))).padStart(7)} ${f(mean(list.map((s) => s.p50))).padStart(8)} ${f(mean(list.map((s) => s.p99))).padStart(8)}   ${list.map((s) => f(s.rps)).join(' / ')}`);
    }
    for (const kind of ['npy', 'oip']) {
      const ratio = (pick: (s: Sample) => number) => f(mean(samples[`${kind} bench --url`]!.map(pick)) / mean(samples[`${kind} harness`]!.map(pick)), 2);
      console.log(`${kind}: bench --url / harness: req/s ${ratio((s) => s.rps)}×, p50 ${ratio((s) => s.p50)}×, p99 ${ratio((s) => s.p99)}×`);
    }
  } finally {
    await server.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
