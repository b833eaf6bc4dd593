/**
 * `npm run bench:ceiling`: how far issue 14's image-path ratio can go on this machine at all.
 *
 * Under 64 clients both servers keep every core busy, so requests per second is cores divided by
 * CPU per request, and kiln ÷ hand-written throughput is the hand-written server's CPU per request
 * over kiln's (the table prints both, measured, to show it). No server can spend less per request
 * than its floor, measured here beside the servers in alternating rounds:
 *   - decode: kiln's image pipeline (`prepareImagePixels`, imagenet preset: shrink-on-load,
 *     resize, crop, one sharp thread), one image at a time in this process;
 *   - inference: the folded model kiln serves, batches of 8, one intra-op thread (no spinning,
 *     nothing idle), per image;
 *   - HTTP: a bare node:http server that reads the JPEG body and answers a fixed top-5 JSON
 *     (bench/server/bare.ts), under the same 64 clients.
 * The ceiling is the hand-written server's CPU per request over that floor. The floor is measured
 * on cores that are otherwise idle; under load decode and inference share caches and run slower,
 * so the true ceiling is lower than the one printed.
 *
 * Usage: npm run bench:ceiling -- [--seconds 6] [--rounds 3] [--max-batch-delay 0]
 *          [--kiln-config default_workers_per_model=0]   (the same flags as bench:server's classify)
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { table } from '../src/cli/format.js';
import { silentLogger } from '../src/core/log.js';
import { loadImageModel, type ImageModel } from '../src/handlers/image-fold.js';
import { IMAGE_PRESETS, prepareImagePixels } from '../src/image/index.js';
import { startBare, startHandwritten, startServer, type PlainServer, type Server } from './server/child.js';
import { ready, uptime } from './server/classify.js';
import { buildClassifyModels, CLASSIFY_MODELS, imageSet, type ClassifyModel, type ImageSet } from './server/classify-setup.js';
import { drive, type DriveResult } from './server/clients.js';
import { CLASSIFY_BATCH, CLASSIFY_CALIBRATION, CLASSIFY_IMAGES, CLASSIFY_KILN_CONFIG, CLASSIFY_MAX_BATCH_DELAY_MS, CLASSIFY_ROUND_MS, CLASSIFY_SECONDS, CLASSIFY_WARMUP_MS, ROUNDS } from './server/options.js';
import { f } from './server/report.js';

const CLIENTS = 64;
/** Issue 14's targets, kiln ÷ hand-written at 64 clients, by image size. */
const TARGET: Record<string, number> = { '224×224': 1.2, '1280×960': 1.5 };

/** CPU ms and the items they were spent on, summed over rounds; for servers also the throughput window. */
class Spend {
  cpuMs = 0;
  items = 0;
  windowItems = 0;
  windowMs = 0;
  add(cpuMs: number, items: number, windowItems = items, windowMs = 0): void {
    this.cpuMs += cpuMs;
    this.items += items;
    this.windowItems += windowItems;
    this.windowMs += windowMs;
  }
  get perItem(): number {
    return this.cpuMs / this.items;
  }
  get rate(): number {
    return (this.windowItems * 1000) / this.windowMs;
  }
}

const spends = new Map<string, Spend>();
const spend = (key: string) => spends.get(key) ?? spends.set(key, new Spend()).get(key)!;
const recordDrive = (key: string, result: DriveResult) => {
  if (result.errors > 0) throw new Error(`${key}: ${result.errors} failed requests`);
  spend(key).add(result.serverCpuMs, result.ok, result.windowOk, result.windowMs);
};

/** Serial calls of `body` for about `ms`; returns this process's CPU ms and the items done. */
async function timed(ms: number, itemsPerCall: number, body: (call: number) => Promise<unknown>): Promise<[number, number]> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  let calls = 0;
  while (performance.now() - start < ms) await body(calls++);
  const used = process.cpuUsage(cpu);
  return [(used.user + used.system) / 1000, calls * itemsPerCall];
}

const decodeOnce = (set: ImageSet, ms: number) => timed(ms, 1, (call) => prepareImagePixels(set.bodies[call % set.bodies.length]!, IMAGE_PRESETS.imagenet));

async function batchFeeds(model: ImageModel, set: ImageSet) {
  const pixels = await Promise.all(set.bodies.map((body) => prepareImagePixels(body, IMAGE_PRESETS.imagenet)));
  const size = pixels[0]!.data.length;
  const data = new Uint8Array(CLASSIFY_BATCH * size);
  for (let row = 0; row < CLASSIFY_BATCH; row++) data.set(pixels[row % pixels.length]!.data, row * size);
  return { [model.engine.inputs[0]!.name]: { type: 'uint8' as const, dims: [CLASSIFY_BATCH, ...pixels[0]!.dims.slice(1)], data } };
}

async function main(): Promise<void> {
  console.log(`kiln bench:ceiling — ${cpus()[0]?.model.trim()} (${cpus().length} cores), node ${process.version}; load before: ${uptime()}`);
  console.log(`kiln: batchSize ${CLASSIFY_BATCH}, maxBatchDelay ${CLASSIFY_MAX_BATCH_DELAY_MS} ms${CLASSIFY_KILN_CONFIG.length > 0 ? `, config ${CLASSIFY_KILN_CONFIG.join(' ')}` : ''}`);
  console.log(`${ROUNDS} alternating rounds of ${(CLASSIFY_ROUND_MS / 1000).toFixed(1)} s per configuration (${CLASSIFY_SECONDS} s each), ${CLIENTS} clients`);
  sharp.concurrency(1);
  const root = mkdtempSync(join(tmpdir(), 'kiln-bench-ceiling-'));
  const removeRoot = () => rmSync(root, { recursive: true, force: true });
  process.once('exit', removeRoot);
  let kiln: Server | undefined;
  let hand: PlainServer | undefined;
  let bare: PlainServer | undefined;
  const models: ImageModel[] = [];
  try {
    const store = join(root, 'model_store');
    mkdirSync(store);
    // The classify suite's images and models, same seeds.
    const sets: ImageSet[] = [await imageSet('224×224', 224, 224, CLASSIFY_IMAGES, 1000), await imageSet('1280×960', 1280, 960, CLASSIFY_IMAGES, 2000)];
    const paths = await buildClassifyModels(root, store, (await imageSet('calibration', 640, 480, CLASSIFY_CALIBRATION, 3000)).bodies);
    kiln = await startServer(root, store, ['load_models=all', ...CLASSIFY_KILN_CONFIG]);
    hand = await startHandwritten(paths);
    bare = await startBare();
    await ready(kiln, CLASSIFY_MODELS);
    const servers = { kiln: { base: kiln.inference, pid: kiln.child.pid }, 'hand-written': { base: hand.url, pid: hand.child.pid } };
    const served = {} as Record<ClassifyModel, ImageModel>;
    for (const model of CLASSIFY_MODELS) {
      served[model] = await loadImageModel('image_classifier', paths[model], 'imagenet', { logger: silentLogger(), engine: { intraOpThreads: 1, label: model } });
      models.push(served[model]);
    }
    const feeds = Object.fromEntries(await Promise.all(CLASSIFY_MODELS.map(async (model) => [model, await batchFeeds(served[model], sets[0]!)] as const)));
    const inferOnce = (model: ClassifyModel, ms: number) => timed(ms, CLASSIFY_BATCH, () => served[model].engine.run(feeds[model]!));

    // Warm-up, unmeasured.
    for (const model of CLASSIFY_MODELS) {
      for (const set of sets) for (const { base, pid } of Object.values(servers)) await drive(base, model, set.bodies, CLIENTS, CLASSIFY_WARMUP_MS, pid);
      await inferOnce(model, CLASSIFY_WARMUP_MS / 2);
    }
    for (const set of sets) {
      await drive(bare.url, 'bare', set.bodies, CLIENTS, CLASSIFY_WARMUP_MS, bare.child.pid);
      await decodeOnce(set, CLASSIFY_WARMUP_MS / 2);
    }

    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? (['kiln', 'hand-written'] as const) : (['hand-written', 'kiln'] as const);
      for (const model of CLASSIFY_MODELS) {
        for (const set of sets) {
          for (const name of order) recordDrive(`${name}|${model}|${set.name}`, await drive(servers[name].base, model, set.bodies, CLIENTS, CLASSIFY_ROUND_MS, servers[name].pid));
        }
        spend(`inference|${model}`).add(...(await inferOnce(model, CLASSIFY_ROUND_MS / 2)));
      }
      for (const set of sets) {
        recordDrive(`http|${set.name}`, await drive(bare.url, 'bare', set.bodies, CLIENTS, CLASSIFY_ROUND_MS, bare.child.pid));
        spend(`decode|${set.name}`).add(...(await decodeOnce(set, CLASSIFY_ROUND_MS / 2)));
      }
      process.stderr.write(`ceiling: round ${round + 1}/${ROUNDS} done\n`);
    }

    console.log('\nCPU ms per request (servers: the whole process, all threads; floor parts: see the top of bench/classify-ceiling.ts)');
    const rows = CLASSIFY_MODELS.flatMap((model) =>
      sets.map((set) => {
        const decode = spend(`decode|${set.name}`).perItem;
        const inference = spend(`inference|${model}`).perItem;
        const http = spend(`http|${set.name}`).perItem;
        const floor = decode + inference + http;
        const k = spend(`kiln|${model}|${set.name}`);
        const h = spend(`hand-written|${model}|${set.name}`);
        return [
          model,
          set.name,
          f(decode, 2),
          f(inference, 2),
          f(http, 2),
          f(floor, 2),
          f(k.perItem, 2),
          f(k.perItem - floor, 2),
          f(h.perItem, 2),
          `${f(k.rate / h.rate, 2)}×`,
          `${f(h.perItem / k.perItem, 2)}×`,
          `${f(h.perItem / floor, 2)}×`,
          `${TARGET[set.name]}×`,
        ];
      }),
    );
    console.log(
      table(['model', 'JPEG', 'decode', 'inference', 'HTTP', 'floor', 'kiln', 'kiln − floor', 'hand-written', 'req/s kiln/hw', 'CPU hw/kiln', 'ceiling hw/floor', 'target'], rows),
    );
    console.log('(req/s kiln/hw is acceptance 1\'s ratio; CPU hw/kiln shows it follows CPU per request; ceiling hw/floor is the ratio of a server that spent nothing beyond the floor)');
    console.log(`\nload after: ${uptime()}`);
  } finally {
    for (const model of models) await model.engine.release();
    await Promise.all([kiln?.stop(), hand?.stop(), bare?.stop()]);
    removeRoot();
    process.removeListener('exit', removeRoot);
  }
}

await main();
