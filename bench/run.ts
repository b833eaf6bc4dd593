/**
 * `npm run bench`: side-by-side measurements, printed as ratios measured in one run (absolute
 * times drift on shared machines; ratios taken in alternating rounds hold up better).
 *
 *   1. engine overhead: kiln's Engine.run vs a bare onnxruntime-node session.run, same model,
 *      same feeds, same threads, alternating rounds;
 *   2. thread scaling: 1 vs 2 intra-op threads;
 *   3. model codec: decode/encode time of the ONNX protobuf vs onnxruntime's own session load;
 *   4. the MobileNetV2-shaped fixture (FP32 baseline for quantization): batch 1 vs 8 per sample.
 *
 * Usage: npm run bench [-- --rounds N]
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import * as ort from 'onnxruntime-node';
import { defaultModels } from '../src/cli/default-models.js';
import { table } from '../src/cli/format.js';
import { quantile } from '../src/evaluate/latency.js';
import { decodeModel, encodeModel } from '../src/onnx/index.js';
import { buildMobileNetV2 } from '../test/fixtures/mobilenet-v2.js';
import { Engine, makeFeeds, runtimeVersion, toOrtTensor, type HostTensor } from '../src/runtime/index.js';

const roundsFlag = process.argv.indexOf('--rounds');
const ROUNDS = roundsFlag > 0 ? Number(process.argv[roundsFlag + 1]) : 10;
/** Each round lasts about this long, so slow models do not take minutes. */
const ROUND_MILLIS = 250;
const MAX_RUNS_PER_ROUND = 20;

async function timeRuns(run: () => Promise<unknown>, runs: number): Promise<number[]> {
  const times: number[] = [];
  for (let index = 0; index < runs; index++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  return times;
}

function median(values: number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5);
}

/** Alternates A and B rounds and returns each one's median latency. */
async function sideBySide(a: () => Promise<unknown>, b: () => Promise<unknown>): Promise<{ a: number; b: number }> {
  const [estimate] = await timeRuns(a, 1);
  const runs = Math.max(3, Math.min(MAX_RUNS_PER_ROUND, Math.round(ROUND_MILLIS / estimate!)));
  const timesA: number[] = [];
  const timesB: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    timesA.push(...(await timeRuns(a, runs)));
    timesB.push(...(await timeRuns(b, runs)));
  }
  return { a: median(timesA), b: median(timesB) };
}

function ortFeeds(feeds: Record<string, HostTensor>): Record<string, ort.Tensor> {
  return Object.fromEntries(Object.entries(feeds).map(([name, tensor]) => [name, toOrtTensor(tensor)]));
}

async function engineOverhead(): Promise<string[][]> {
  const rows: string[][] = [];
  for (const model of defaultModels().filter((m) => m.id !== 'ppocr-det')) {
    for (const batch of [1, 8]) {
      const engine = await Engine.load(model.path, { intraOpThreads: 1 });
      const raw = await ort.InferenceSession.create(model.path, { intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
      const feeds = makeFeeds(engine.inputs, { shapes: { x: [batch, ...model.benchShape.slice(1)] } });
      const bare = ortFeeds(feeds);
      await engine.warmUp(feeds, 3);
      for (let i = 0; i < 3; i++) await raw.run(bare);
      const { a, b } = await sideBySide(() => engine.run(feeds), () => raw.run(bare));
      rows.push([model.id, String(batch), a.toFixed(2), b.toFixed(2), (a / b).toFixed(3)]);
      await engine.release();
      await raw.release();
    }
  }
  return rows;
}

async function threadScaling(): Promise<string[][]> {
  const rows: string[][] = [];
  for (const model of defaultModels()) {
    const one = await Engine.load(model.path, { intraOpThreads: 1 });
    const two = await Engine.load(model.path, { intraOpThreads: 2 });
    const feeds = makeFeeds(one.inputs, { shapes: { x: [...model.benchShape] } });
    await one.warmUp(feeds, 2);
    await two.warmUp(feeds, 2);
    const { a, b } = await sideBySide(() => one.run(feeds), () => two.run(feeds));
    rows.push([model.id, `[${model.benchShape.join(',')}]`, a.toFixed(2), b.toFixed(2), (a / b).toFixed(2)]);
    await one.release();
    await two.release();
  }
  return rows;
}

async function codec(): Promise<string[][]> {
  const rows: string[][] = [];
  for (const model of defaultModels()) {
    const bytes = readFileSync(model.path);
    const decode: number[] = [];
    const encode: number[] = [];
    const load: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      let start = performance.now();
      const decoded = decodeModel(bytes, model.path);
      decode.push(performance.now() - start);
      start = performance.now();
      encodeModel(decoded);
      encode.push(performance.now() - start);
      start = performance.now();
      const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 });
      load.push(performance.now() - start);
      await session.release();
    }
    const [d, e, l] = [median(decode), median(encode), median(load)];
    rows.push([model.id, (bytes.length / 1e6).toFixed(1), d.toFixed(1), e.toFixed(1), l.toFixed(1), ((d + e) / l).toFixed(2)]);
  }
  return rows;
}

async function mobileNet(): Promise<string[][]> {
  const bytes = encodeModel(buildMobileNetV2());
  const rows: string[][] = [];
  for (const threads of [1, 2]) {
    const engine = await Engine.load(bytes, { intraOpThreads: threads, label: 'mobilenet-v2' });
    const one = makeFeeds(engine.inputs, { batch: 1 });
    const eight = makeFeeds(engine.inputs, { batch: 8 });
    await engine.warmUp(one, 3);
    await engine.warmUp(eight, 1);
    const { a, b } = await sideBySide(() => engine.run(one), () => engine.run(eight));
    rows.push([String(threads), a.toFixed(2), (b / 8).toFixed(2), (a / (b / 8)).toFixed(2), (8000 / b).toFixed(1)]);
    await engine.release();
  }
  return rows;
}

async function main(): Promise<void> {
  console.log(`kiln bench — ${cpus()[0]?.model.trim()} (${cpus().length} cores), node ${process.version}, onnxruntime-node ${runtimeVersion()}`);
  console.log(`${ROUNDS} alternating rounds of ~${ROUND_MILLIS} ms (3 to ${MAX_RUNS_PER_ROUND} runs); medians in ms\n`);
  console.log('1. Engine.run vs bare session.run (1 thread)');
  console.log(table(['model', 'batch', 'kiln ms', 'ort ms', 'kiln/ort'], await engineOverhead()));
  console.log('\n2. intra-op threads, batch 1');
  console.log(table(['model', 'input', '1 thread ms', '2 threads ms', 'speed-up'], await threadScaling()));
  console.log('\n3. ONNX protobuf codec vs onnxruntime session load');
  console.log(table(['model', 'MB', 'decode ms', 'encode ms', 'ort load ms', '(decode+encode)/load'], await codec()));
  console.log('\n4. MobileNetV2-shaped fixture (FP32, 224x224): batch 1 vs batch 8');
  console.log(table(['threads', 'b1 ms', 'b8 ms/sample', 'batching gain', 'b8 samples/s'], await mobileNet()));
}

await main();
