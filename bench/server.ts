/**
 * `npm run bench:server`: the model server under load, measured side by side in one run. Three
 * suites, picked with `--suite` (default all; a comma list also works):
 *
 *   classify  issue 14, acceptance 1 (bench/server/classify.ts): kiln's image_classifier against
 *             the server a user would write — bench/server/handwritten.ts, fastify + sharp +
 *             onnxruntime-node, no batching, torchvision's ImageNet preprocessing in one sharp
 *             call and a JS loop — and against that preprocessing + `session.run` in this process
 *             (batch 1 and 8), on the MobileNetV2-shaped fixture in FP32 and INT8 (quantized by
 *             kiln's `quantize`, static, calibrated through the `imagenet` preset), with
 *             synthetic photo-like JPEG bodies at 224×224 and 1280×960. Both servers are child
 *             processes; kiln loads its archives at startup (`load_models=all`: its default
 *             workers and threads; `handler.image: imagenet`, batchSize 8, maxBatchDelay 5 ms).
 *             64 keep-alive clients (throughput) and 1 client (latency) per model and image
 *             size; the order of kiln and the hand-written server flips every round. Prints
 *             req/s, p50/p90/p99, errors, server CPU per request, kiln / hand-written ratios
 *             against the acceptance targets, and whether both servers' top-1 labels agree;
 *   ocr-cls   issue 6, acceptance 3: the PP-OCR orientation classifier on PNG text lines (below);
 *   tensor    issue 6, acceptance 4: `.npy` and OIP binary tensor requests (below).
 *
 * ocr-cls and tensor: a real `kiln serve --foreground` runs as a child process (so the load generator does not share
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
 *   server b8 process      `cls-b8-process`, cls-b8 with `handler.isolation: process`: the same
 *                          load, the handler in a worker process (IPC) instead of a worker thread;
 *   server tensor          a third copy, `cls-tensor`, archived with the `tensor` handler (batchSize
 *                          8, maxBatchDelay 5 ms, `handler.threads` = --threads): the 64 clients
 *                          POST a ready [1,3,48,192] float32 `.npy` (the image_classifier's
 *                          preprocessing of the same PNG, made once), as Triton's perf_analyzer
 *                          sends tensors, so only the server's own cost is measured;
 *   server OIP binary      a fourth copy, `cls-oip`, identical to `cls-tensor` but for its name (so
 *                          it has its own counters): the 64 clients POST the same tensor to
 *                          /v2/models/cls-oip/infer with the Open Inference Protocol's binary tensor
 *                          extension (a JSON header of `Inference-Header-Content-Length` bytes,
 *                          then the 110,592 little-endian float32 bytes); the reply is OIP JSON;
 *   raw ort, N threads     bare `session.run` on [8,3,48,192] of that tensor, intraOpNumThreads =
 *                          --threads, as the `tensor` handler's Engine creates its session.
 *
 * Event loop: /ping latency as a client sees it, and the server's own event-loop delay and
 * utilization, read from a small probe loaded into the child with `--import` (SIGUSR2 dumps it).
 *
 * Integrity: every request carries a unique `x-bench-id`; each must get exactly one answer, a 200
 * whose JSON body has both labels; `x-request-id`s must be unique; and the server's own counters
 * must agree: requests counted by ts_inference_requests_total and requests dispatched in batches
 * (kiln_batch_size_sum) both equal the answers the clients got. A tensor answer (`.npy` or OIP)
 * must also carry the probabilities the raw session gives for that tensor (within 1e-5).
 *
 * Modules (bench/server/): options.ts (flags and settings), child.ts (the `kiln serve` and
 * hand-written children, killed when this process exits; the loop probe, CPU accounting,
 * metrics scrape), classify*.ts, clients.ts and handwritten.ts (the classify suite), models.ts (archiving and registering the copies),
 * load.ts (clients, /ping thread, request kinds and their integrity checks), in-process.ts (raw
 * sessions, preprocessing, the timed loop), report.ts (the printed tables). This file runs them.
 *
 * Usage: npm run bench:server [-- --suite classify|ocr-cls|tensor|all] [-- --seconds N] [-- --rounds R] [-- --kiln-config key=value] [-- --threads T] [-- --tensor-only]
 *   --suite: which suites (default all); the acceptance run of issue 14 is
 *            `npm run bench:server -- --suite classify --seconds 30 --rounds 3` on a quiet machine;
 *   --seconds: measured seconds per configuration (default 30; classify: 6, its 24 configurations
 *              take about 4 minutes on 2 cores), split into R rounds (default 3);
 *   --calibration: classify's INT8 calibration images (default 8);
 *   --max-batch-delay MS: classify's maxBatchDelay (default 5; 0 = take what has queued, no wait);
 *   --kiln-config key=value: a config.properties line for classify's kiln child (repeatable), e.g.
 *              default_workers_per_model=0 (TorchServe's default: one worker per CPU);
 *   --threads: intra-op threads of the tensor comparison, server and raw alike (default: the
 *              machine's available parallelism);
 *   --tensor-only: the same as --suite tensor.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { renderDemoPage } from '../src/cli/demo-assets.js';
import { runtimeVersion } from '../src/runtime/index.js';
import { encodeNpy } from '../test/fixtures/npy.js';
import { startServer } from './server/child.js';
import { batchTensor, imageToTensor, loopFor, preprocess, preprocessingBreakdown, sessionOptions } from './server/in-process.js';
import { load, oipBinaryRequest, predictionsPath, validLabels, validTensorReply, type LoadResult, type RequestKind } from './server/load.js';
import { buildArchives, register } from './server/models.js';
import { runClassifySuite, uptime } from './server/classify.js';
import { BATCH, CLIENTS, IMAGES, MODEL_PATH, OIP_MODEL, PING_EVERY_MS, PROCESS_MODEL, ROUND_MS, ROUNDS, SECONDS, SUITES, TENSOR_MODEL, TENSORS, THREADS, TRANSFORM, WARMUP_MS } from './server/options.js';
import { f, merge, printImageComparison, printServers, printTensorComparison, type Merged, type Totals } from './server/report.js';

/** The `ocr-cls` and `tensor` suites: one kiln serve child with copies of the PP-OCR classifier. */
async function runOcrClsAndTensor(): Promise<void> {
  console.log(`\n=== ${SUITES.filter((suite) => suite !== 'classify').join(' + ')}: the PP-OCR orientation classifier ===`);
  console.log(`${ROUNDS} alternating rounds of ${(ROUND_MS / 1000).toFixed(1)} s per configuration (${SECONDS} s each); ${CLIENTS} clients; /ping every ${PING_EVERY_MS} ms`);

  const root = mkdtempSync(join(tmpdir(), 'kiln-bench-server-'));
  const store = join(root, 'model_store');
  mkdirSync(store, { recursive: true });
  await buildArchives(root, store);
  const png = await renderDemoPage(['kiln takes ONNX models to production']);
  const server = await startServer(root, store);
  try {
    console.log(`server: kiln serve child pid ${server.child.pid}`);
    if (IMAGES) {
      for (const batchSize of [1, BATCH]) await register(server, `cls-b${batchSize}`, batchSize);
      await register(server, PROCESS_MODEL, BATCH);
    }
    if (TENSORS) {
      await register(server, TENSOR_MODEL, BATCH);
      await register(server, OIP_MODEL, BATCH);
    }

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
    const png64: RequestKind = { method: 'PUT', path: predictionsPath, contentType: 'image/png', body: png, valid: validLabels };
    const npy: RequestKind = {
      method: 'POST',
      path: predictionsPath,
      contentType: 'application/x-npy',
      body: encodeNpy('<f4', [1, 3, 48, 192], one),
      valid: validTensorReply(threaded.outputNames[0]!, expected),
    };
    const oip = oipBinaryRequest(input, [1, 3, 48, 192], one, expected);
    console.log(
      `request bodies: ${png.length} byte PNG (one rendered text line); ${npy.body.length} byte .npy of its [1,3,48,192] float32 tensor; ` +
        `${oip.body.length} byte OIP binary request of the same tensor (${oip.headers!['inference-header-content-length']} byte JSON header); tensor threads ${THREADS}\n`,
    );

    // Warm-up: every path once, not measured.
    if (IMAGES) {
      await load(server, 'cls-b1', png64, WARMUP_MS);
      await load(server, `cls-b${BATCH}`, png64, WARMUP_MS);
      await load(server, PROCESS_MODEL, png64, WARMUP_MS);
      await loopFor(WARMUP_MS / 2, () => session.run(feeds));
      await loopFor(WARMUP_MS / 2, pipelineStep);
    }
    if (TENSORS) {
      await load(server, TENSOR_MODEL, npy, WARMUP_MS);
      await load(server, OIP_MODEL, oip, WARMUP_MS);
      await loopFor(WARMUP_MS / 2, () => threaded.run(feeds));
    }

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
        await serve(`server b${BATCH} process`, PROCESS_MODEL, png64);
        await loopRound('raw ort', ROUND_MS, () => session.run(feeds));
        await loopRound('handler pipeline', ROUND_MS, pipelineStep);
        await loopRound('preprocess only', Math.min(ROUND_MS, 3000), () => preprocess(png));
      }
      if (TENSORS) {
        await serve('server tensor', TENSOR_MODEL, npy);
        await serve('server OIP binary', OIP_MODEL, oip);
        await loopRound(`raw ort, ${THREADS} threads`, ROUND_MS, () => threaded.run(feeds));
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
    }

    const rate = (name: string) => (totals[name]!.items * 1000) / totals[name]!.ms;
    const cores = (name: string, pick: (t: Totals) => number) => f(pick(totals[name]!) / totals[name]!.ms, 2);
    const tensor = TENSORS ? merge(totals['server tensor']!.loads) : undefined;
    const oipMerged = TENSORS ? merge(totals['server OIP binary']!.loads) : undefined;
    const models: [string, string, Merged][] = [
      ...(IMAGES
        ? ([
            ['cls-b1', 'server b1', merge(totals['server b1']!.loads)],
            [`cls-b${BATCH}`, `server b${BATCH}`, merge(totals[`server b${BATCH}`]!.loads)],
            [PROCESS_MODEL, `server b${BATCH} process`, merge(totals[`server b${BATCH} process`]!.loads)],
          ] as [string, string, Merged][])
        : []),
      ...(tensor && oipMerged
        ? ([
            [TENSOR_MODEL, 'server tensor', tensor],
            [OIP_MODEL, 'server OIP binary', oipMerged],
          ] as [string, string, Merged][])
        : []),
    ];
    printServers(models, rate, cores);
    if (IMAGES) {
      const breakdown = await preprocessingBreakdown(png, session, feeds);
      printImageComparison(rate, cores, totals, models[1]![2], breakdown);
    }
    if (tensor && oipMerged) printTensorComparison(rate, cores, totals, tensor, oipMerged);
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

async function main(): Promise<void> {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  console.log(`kiln bench:server — ${cpu} (${cpus().length} cores), node ${process.version}, onnxruntime-node ${runtimeVersion()}; suites: ${SUITES.join(', ')}`);
  console.log(`load: ${uptime()}`);
  if (IMAGES || TENSORS) await runOcrClsAndTensor();
  if (SUITES.includes('classify')) await runClassifySuite();
}

await main();
