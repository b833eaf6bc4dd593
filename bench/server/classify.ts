/**
 * The `classify` suite (issue 14, acceptance 1): kiln's image_classifier against the server a user
 * would write (handwritten.ts) and the raw in-process loop, on the MobileNetV2-shaped fixture in
 * FP32 and INT8, with 224×224 and 1280×960 JPEG bodies, in alternating rounds of one run.
 *
 *   kiln         a `kiln serve --foreground` child that loads both archives at startup
 *                (`load_models=all`), so kiln's default workers and threads are what is measured;
 *                image_classifier, `handler.image: imagenet`, batchSize 8, maxBatchDelay 5 ms (`--max-batch-delay`);
 *   hand-written a handwritten.ts child: fastify + sharp + onnxruntime-node, no batching;
 *   raw b1 / b8  in this process: handwritten.ts's own preprocessing + `session.run`, serially, at
 *                batch 1 (the floor of one request's cost) and batch 8 (8 images preprocessed
 *                concurrently, one run).
 * Servers get 64 keep-alive clients (throughput) and 1 client (latency), each image size and
 * model in turn; the order of kiln and the hand-written server flips every round.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { startHandwritten, startServer, type PlainServer, type Server } from './child.js';
import { buildClassifyModels, CLASSIFY_MODELS, imageSet, type ClassifyModel, type ImageSet } from './classify-setup.js';
import { printClassify, type Cell } from './classify-report.js';
import { drive, type DriveResult } from './clients.js';
import { preprocess, top5 } from './handwritten.js';
import { CLASSIFY_BATCH, CLASSIFY_CALIBRATION, CLASSIFY_CLIENTS, CLASSIFY_IMAGES, CLASSIFY_KILN_CONFIG, CLASSIFY_MAX_BATCH_DELAY_MS, CLASSIFY_ROUND_MS, CLASSIFY_SECONDS, CLASSIFY_WARMUP_MS, ROUNDS } from './options.js';

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** The machine's load averages as `uptime` prints them. */
export function uptime(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return 'uptime unavailable';
  }
}

/** Waits until every model has at least one READY worker (startup models load in the background). */
export async function ready(server: Server, models: readonly string[]): Promise<void> {
  const deadline = performance.now() + 180_000;
  for (const model of models) {
    for (;;) {
      const response = await fetch(`${server.management}/models/${model}`).catch(() => undefined);
      const described = response?.ok ? ((await response.json()) as { workers: { status: string }[] }[]) : [];
      const workers = described[0]?.workers ?? [];
      if (workers.length > 0 && workers.every((worker) => worker.status === 'READY')) {
        console.log(`classify: kiln ${model}: ${workers.length} worker(s) READY (kiln's defaults${CLASSIFY_KILN_CONFIG.length > 0 ? ' + ' + CLASSIFY_KILN_CONFIG.join(', ') : ''})`);
        break;
      }
      if (performance.now() > deadline) throw new Error(`kiln: ${model} has no READY worker after 180 s: ${server.stderr()}`);
      await sleep(100);
    }
  }
}

/** The raw in-process loop: preprocess + run, `batch` images at a time, serially, for `ms`. */
async function rawLoop(session: ort.InferenceSession, bodies: readonly Buffer[], batch: number, ms: number): Promise<DriveResult> {
  const input = session.inputNames[0]!;
  const output = session.outputNames[0]!;
  const latencies: number[] = [];
  const top1 = new Map<number, string>();
  const cpu = process.cpuUsage();
  const start = performance.now();
  let next = 0;
  while (performance.now() - start < ms) {
    const sentAt = performance.now();
    const images = Array.from({ length: batch }, () => next++ % bodies.length);
    const tensors = await Promise.all(images.map((image) => preprocess(bodies[image]!)));
    const size = tensors[0]!.data.length;
    const data = new Float32Array(batch * size);
    tensors.forEach((tensor, index) => data.set(tensor.data as Float32Array, index * size));
    const logits = (await session.run({ [input]: new ort.Tensor('float32', data, [batch, ...tensors[0]!.dims.slice(1)]) }))[output]!.data as Float32Array;
    const classes = logits.length / batch;
    images.forEach((image, row) => {
      const label = Object.keys(top5(logits.subarray(row * classes, (row + 1) * classes)))[0]!;
      if (!top1.has(image)) top1.set(image, label);
    });
    const ms = performance.now() - sentAt;
    for (let index = 0; index < batch; index++) latencies.push(ms);
  }
  const usage = process.cpuUsage(cpu);
  const items = latencies.length;
  const elapsedMs = performance.now() - start;
  return { ok: items, errors: 0, statuses: new Map([[200, items]]), elapsedMs, windowOk: items, windowMs: elapsedMs, latencies, serverCpuMs: (usage.user + usage.system) / 1000, top1 };
}

/** Runs the suite and prints its tables; every child and temporary file is gone afterwards. */
export async function runClassifySuite(): Promise<void> {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  console.log(`\n=== classify: MobileNetV2 fixture (224×224, 1000 classes), FP32 and INT8, JPEG bodies — kiln vs the hand-written server vs raw onnxruntime ===`);
  console.log(`${cpu} (${cpus().length} cores); load before: ${uptime()}`);
  console.log(`kiln: batchSize ${CLASSIFY_BATCH}, maxBatchDelay ${CLASSIFY_MAX_BATCH_DELAY_MS} ms`);
  console.log(`${ROUNDS} alternating rounds of ${(CLASSIFY_ROUND_MS / 1000).toFixed(1)} s per configuration (${CLASSIFY_SECONDS} s each); clients ${CLASSIFY_CLIENTS.join(' and ')}`);
  const root = mkdtempSync(join(tmpdir(), 'kiln-bench-classify-'));
  // Also on Ctrl-C (child.ts kills the children and exits, which runs 'exit' listeners).
  const removeRoot = () => rmSync(root, { recursive: true, force: true });
  process.once('exit', removeRoot);
  let kiln: Server | undefined;
  let hand: PlainServer | undefined;
  const sessions: ort.InferenceSession[] = [];
  try {
    const store = join(root, 'model_store');
    mkdirSync(store);
    const sets: ImageSet[] = [await imageSet('224×224', 224, 224, CLASSIFY_IMAGES, 1000), await imageSet('1280×960', 1280, 960, CLASSIFY_IMAGES, 2000)];
    for (const set of sets) console.log(`classify: ${set.bodies.length} JPEGs (quality 85) at ${set.name}: ${set.bodies.map((body) => `${(body.length / 1024).toFixed(1)} KiB`).join(', ')}`);
    const calibration = (await imageSet('calibration', 640, 480, CLASSIFY_CALIBRATION, 3000)).bodies;
    const paths = await buildClassifyModels(root, store, calibration);
    kiln = await startServer(root, store, ['load_models=all', ...CLASSIFY_KILN_CONFIG]);
    if (CLASSIFY_KILN_CONFIG.length > 0) console.log(`classify: kiln config.properties adds ${CLASSIFY_KILN_CONFIG.join(', ')}`);
    hand = await startHandwritten(paths);
    console.log(`classify: kiln serve child pid ${kiln.child.pid}; hand-written server child pid ${hand.child.pid} (${hand.url})`);
    await ready(kiln, CLASSIFY_MODELS);
    const raw = Object.fromEntries(
      await Promise.all(CLASSIFY_MODELS.map(async (model) => [model, await ort.InferenceSession.create(paths[model])] as const)),
    ) as Record<ClassifyModel, ort.InferenceSession>;
    sessions.push(...Object.values(raw));

    const servers = { kiln: { base: kiln.inference, pid: kiln.child.pid }, 'hand-written': { base: hand.url, pid: hand.child.pid } };
    const cells = new Map<string, Cell>();
    const record = (model: ClassifyModel, set: ImageSet, contender: string, clients: number, result: DriveResult) => {
      const key = `${model}|${set.name}|${contender}|${clients}`;
      const cell = cells.get(key) ?? { model, size: set.name, contender, clients, results: [] };
      cell.results.push(result);
      cells.set(key, cell);
    };
    for (const model of CLASSIFY_MODELS) {
      for (const set of sets) {
        for (const { base, pid } of Object.values(servers)) await drive(base, model, set.bodies, 64, CLASSIFY_WARMUP_MS, pid);
        await rawLoop(raw[model], set.bodies, 1, CLASSIFY_WARMUP_MS / 2);
      }
    }
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? (['kiln', 'hand-written'] as const) : (['hand-written', 'kiln'] as const);
      for (const model of CLASSIFY_MODELS) {
        for (const set of sets) {
          for (const clients of CLASSIFY_CLIENTS) {
            for (const name of order) record(model, set, name, clients, await drive(servers[name].base, model, set.bodies, clients, CLASSIFY_ROUND_MS, servers[name].pid));
          }
          record(model, set, 'raw b1', 1, await rawLoop(raw[model], set.bodies, 1, CLASSIFY_ROUND_MS));
          record(model, set, `raw b${CLASSIFY_BATCH}`, 1, await rawLoop(raw[model], set.bodies, CLASSIFY_BATCH, CLASSIFY_ROUND_MS));
        }
      }
      process.stderr.write(`classify: round ${round + 1}/${ROUNDS} done\n`);
    }
    printClassify([...cells.values()], sets.map((set) => set.name));
    console.log(`\nload after: ${uptime()}`);
  } finally {
    for (const session of sessions) await session.release();
    const codes = await Promise.all([kiln?.stop(), hand?.stop()]);
    console.log(`classify: children exited (kiln ${codes[0]}, hand-written ${codes[1]})`);
    const stderr = [kiln?.stderr().trim(), hand?.stderr().trim()].filter(Boolean).join('\n');
    if (stderr) console.log(`children's stderr (first lines):\n${stderr.split('\n').slice(0, 8).join('\n')}`);
    removeRoot();
    process.removeListener('exit', removeRoot);
  }
}
