/**
 * `npm run bench:overlap`: what overlapping decode with inference, onnxruntime's spin-waiting,
 * libvips threads per image and the workers × threads split are worth to `image_classifier`
 * under load. Part 1 times sharp alone: 8 concurrent decode + resize of one JPEG, libvips
 * concurrency 1 vs the core count. Part 2 starts one `kiln serve` child per configuration (each
 * serving a seeded MobileNetV2 as image_classifier, batch 8, 5 ms delay), and in alternating
 * rounds loads each with 64 autocannon clients POSTing a synthetic JPEG (a fixed number of requests); it prints requests/s
 * per configuration and each one's ratio to the default, per round and as the median.
 *   --size WxH    the JPEG's size (default 1280x960)
 *   --requests N  per configuration and round (default 256, four per client)
 *   --rounds N    (default 3)
 */
import autocannon from 'autocannon';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { createModelArchive } from '../src/handlers/model-archive.js';
import { encodeModel } from '../src/onnx/index.js';
import { buildMobileNetV2 } from '../test/fixtures/mobilenet-v2.js';
import { startServer, type Server } from './server/child.js';

function flag(name: string, fallback: string): string {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1]! : fallback;
}
const [WIDTH, HEIGHT] = flag('--size', '1280x960').split('x').map(Number) as [number, number];
const REQUESTS = Number(flag('--requests', '256'));
const ROUNDS = Number(flag('--rounds', '3'));
const CLIENTS = 64;
const MODEL = 'mnv2';

/** A photo-like JPEG: smooth gradients with detail, so it compresses as camera images do. */
async function syntheticJpeg(width: number, height: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  let seed = 7;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const noise = (seed >> 16) % 24;
      const offset = (y * width + x) * 3;
      raw[offset] = ((x * 255) / width + noise) & 255;
      raw[offset + 1] = ((y * 255) / height + noise) & 255;
      raw[offset + 2] = (128 + 100 * Math.sin((x + y) / 40) + noise) & 255;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Part 1: images per second of 8 concurrent decode + resize(224) with `concurrency` libvips threads each. */
async function sharpRound(jpeg: Buffer, concurrency: number, ms: number): Promise<number> {
  sharp.concurrency(concurrency);
  let images = 0;
  const started = performance.now();
  while (performance.now() - started < ms) {
    await Promise.all(Array.from({ length: 8 }, () => sharp(jpeg).resize(224, 224).removeAlpha().raw().toBuffer()));
    images += 8;
  }
  return images / ((performance.now() - started) / 1000);
}

async function sharpPart(jpeg: Buffer): Promise<void> {
  const initial = sharp.concurrency();
  sharp.cache(false);
  const settings = [...new Set([1, availableParallelism()])];
  const rates = new Map(settings.map((setting) => [setting, [] as number[]]));
  await sharpRound(jpeg, 1, 300);
  for (let round = 0; round < 5; round++) for (const setting of settings) rates.get(setting)!.push(await sharpRound(jpeg, setting, 600));
  const base = median(rates.get(1)!);
  for (const setting of settings) {
    console.log(`sharp ${WIDTH}x${HEIGHT}: concurrency ${setting}: ${median(rates.get(setting)!).toFixed(0)} images/s (${(median(rates.get(setting)!) / base).toFixed(2)}× concurrency 1)`);
  }
  console.log(`sharp: default concurrency here ${initial}, UV_THREADPOOL_SIZE ${process.env['UV_THREADPOOL_SIZE'] ?? '4 (default)'}`);
  sharp.concurrency(initial);
}

/** Part 2's configurations: the server's defaults, then one change each. */
const CONFIGS: { name: string; env: Record<string, string>; workers: number }[] = [
  { name: 'default (overlap, no spinning, sharp 1, 1 worker × rule threads)', env: {}, workers: 1 },
  { name: 'overlap off', env: { KILN_HANDLER_OVERLAP: '0' }, workers: 1 },
  { name: 'spinning on', env: { KILN_ORT_SPINNING: '1' }, workers: 1 },
  { name: `sharp concurrency ${availableParallelism()}`, env: { KILN_SHARP_CONCURRENCY: String(availableParallelism()) }, workers: 1 },
  { name: '2 workers (rule threads each)', env: {}, workers: 2 },
];

async function startConfigured(root: string, store: string, config: (typeof CONFIGS)[number], index: number): Promise<Server> {
  const saved = { ...process.env };
  Object.assign(process.env, config.env);
  const dir = mkdtempSync(join(root, `server-${index}-`));
  try {
    const server = await startServer(dir, store);
    const response = await fetch(`${server.management}/models?url=${MODEL}.mar&batch_size=8&max_batch_delay=5&initial_workers=${config.workers}&synchronous=true`, { method: 'POST' });
    if (response.status !== 200) throw new Error(`register: ${response.status} ${await response.text()}`);
    return server;
  } finally {
    process.env = saved;
  }
}

/**
 * A fixed number of requests rather than a duration: a client that stops mid-run leaves up to 64
 * requests queued in the server, whose work would then land in the next configuration's round.
 */
async function load(server: Server, jpeg: Buffer, amount: number): Promise<{ rps: number; p50: number; p99: number; failed: number }> {
  // autocannon ends a run on its one-second tick: the wall clock to the last response is the run.
  const started = performance.now();
  let last = started;
  let answered = 0;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${server.inference}/predictions/${MODEL}`,
        method: 'POST',
        headers: { 'content-type': 'image/jpeg' },
        body: jpeg,
        connections: CLIENTS,
        amount,
        timeout: 120,
      },
      (error, done) => (error ? reject(error) : resolve(done)),
    );
    instance.on('response', () => {
      answered++;
      last = performance.now();
    });
  });
  return { rps: answered / ((last - started) / 1000), p50: result.latency.p50, p99: result.latency.p99, failed: result.non2xx + result.errors + result.timeouts };
}

async function serverPart(jpeg: Buffer): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'kiln-bench-overlap-'));
  const store = join(root, 'store');
  const servers: Server[] = [];
  try {
    const modelPath = join(root, `${MODEL}.onnx`);
    writeFileSync(modelPath, encodeModel(buildMobileNetV2()));
    writeFileSync(join(root, 'model-config.yaml'), 'handler:\n  isolation: thread\n');
    await createModelArchive({ modelName: MODEL, version: '1.0', serializedFile: modelPath, handler: 'image_classifier', configFile: join(root, 'model-config.yaml'), exportPath: store, format: 'default', force: true });
    for (const [index, config] of CONFIGS.entries()) servers.push(await startConfigured(root, store, config, index));
    for (const server of servers) await load(server, jpeg, CLIENTS);
    const rates = CONFIGS.map(() => [] as number[]);
    for (let round = 0; round < ROUNDS; round++) {
      const line: string[] = [];
      for (const [index, server] of servers.entries()) {
        const result = await load(server, jpeg, REQUESTS);
        if (result.failed > 0) throw new Error(`${CONFIGS[index]!.name}: ${result.failed} requests failed`);
        rates[index]!.push(result.rps);
        line.push(`${result.rps.toFixed(1)} req/s (p50 ${result.p50} ms, p99 ${result.p99} ms)`);
      }
      console.log(`round ${round + 1}: ${line.join(' | ')}`);
    }
    for (const [index, config] of CONFIGS.entries()) {
      const ratios = rates[index]!.map((rate, round) => rate / rates[0]![round]!);
      console.log(`${config.name}: ${median(rates[index]!).toFixed(1)} req/s, ${median(ratios).toFixed(2)}× default (rounds: ${ratios.map((ratio) => ratio.toFixed(2)).join(', ')})`);
    }
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    rmSync(root, { recursive: true, force: true });
  }
}

const jpeg = await syntheticJpeg(WIDTH, HEIGHT);
console.log(`${cpus()[0]?.model ?? 'cpu'}, ${availableParallelism()} cores, load ${loadavg().map((value) => value.toFixed(2)).join(' ')}; JPEG ${WIDTH}x${HEIGHT} ${(jpeg.length / 1024).toFixed(0)} KiB; ${CLIENTS} clients, ${REQUESTS} requests × ${ROUNDS} rounds`);
if (!process.argv.includes('--server-only')) await sharpPart(jpeg);
if (!process.argv.includes('--sharp-only')) await serverPart(jpeg);
console.log(`load after: ${loadavg().map((value) => value.toFixed(2)).join(' ')}`);
