/**
 * `npm run bench:fold`: per-image CPU time of image_classifier's two feeds for MobileNetV2 at
 * 224×224, batch 8, side by side in alternating rounds, on a 224×224 and a 1280×960 JPEG:
 *
 *   - float: `prepareImage` (one sharp pipeline + the JavaScript normalize loop) per image,
 *     stacked into a float32 `[8, 3, 224, 224]` batch, run on the float model;
 *   - folded: `prepareImagePixels` (the same sharp pipeline, no normalize) per image, stacked
 *     into a uint8 `[8, 224, 224, 3]` batch, run on the model with the preprocessing folded in
 *     (Cast → Mul → Add → Transpose as graph nodes).
 *
 * The eight images of a batch are prepared concurrently, as the handler does. CPU time is the
 * whole process's (libvips' and onnxruntime's threads included); onnxruntime runs one intra-op
 * thread so the two paths compete for nothing. Also printed: the preprocessing alone, and the
 * largest logit difference between the paths (they must agree within 1e-5).
 *
 * Then the load itself: image_classifier's `loadImageModel` from the model file with folding on
 * (read, fold, serialize, create the session from bytes) and off (session from the path),
 * alternating, median of 5.
 *
 * Usage: npm run bench:fold [-- --rounds N]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { table } from '../src/cli/format.js';
import { silentLogger } from '../src/core/log.js';
import { foldForDescription } from '../src/handlers/fold-description.js';
import { loadImageModel } from '../src/handlers/image-fold.js';
import { IMAGE_PRESETS, prepareImage, prepareImagePixels } from '../src/image/index.js';
import { encodeModel } from '../src/onnx/model-io.js';
import { Engine } from '../src/runtime/engine.js';
import type { HostTensor } from '../src/runtime/tensors.js';
import { buildMobileNetV2 } from '../test/fixtures/mobilenet-v2.js';

const flag = (name: string, fallback: string): string => {
  const at = process.argv.indexOf(name);
  return at > 0 && process.argv[at + 1] ? process.argv[at + 1]! : fallback;
};
const ROUNDS = Number(flag('--rounds', '6'));
const ROUND_MS = 600;
const BATCH = 8;
const PREPROCESS = IMAGE_PRESETS.imagenet;

/** A photo-like JPEG: gradients plus seeded noise (noise keeps the JPEG from being trivial). */
async function jpeg(width: number, height: number): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 3);
  let seed = 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      const at = (y * width + x) * 3;
      const noise = (seed >>> 26) - 32;
      data[at] = Math.max(0, Math.min(255, (x * 255) / width + noise));
      data[at + 1] = Math.max(0, Math.min(255, (y * 255) / height + noise));
      data[at + 2] = Math.max(0, Math.min(255, 128 + Math.sin(x / 17) * 60 + Math.cos(y / 23) * 60));
    }
  }
  return sharp(data, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

/** One batch's preprocessing (the handler's stacking) and its run; returns the logits. */
interface Path {
  readonly name: string;
  prepare(images: readonly Buffer[]): Promise<HostTensor>;
  run(tensor: HostTensor): Promise<Float32Array>;
}

function stack<T extends Float32Array | Uint8Array>(parts: readonly { dims: readonly number[]; data: T }[], make: (length: number) => T): { dims: number[]; data: T } {
  const size = parts[0]!.data.length;
  const data = make(parts.length * size);
  parts.forEach((part, row) => data.set(part.data, row * size));
  return { dims: [parts.length, ...parts[0]!.dims.slice(1)], data };
}

interface Tally {
  cpuMs: number;
  prepareCpuMs: number;
  wallMs: number;
  images: number;
}

async function round(path: Path, images: readonly Buffer[], tally: Tally): Promise<void> {
  const start = performance.now();
  while (performance.now() - start < ROUND_MS) {
    const cpu = process.cpuUsage();
    const tensor = await path.prepare(images);
    const prepared = process.cpuUsage(cpu);
    await path.run(tensor);
    const used = process.cpuUsage(cpu);
    tally.prepareCpuMs += (prepared.user + prepared.system) / 1000;
    tally.cpuMs += (used.user + used.system) / 1000;
    tally.images += images.length;
  }
  tally.wallMs += performance.now() - start;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let index = 0; index < a.length; index++) worst = Math.max(worst, Math.abs(a[index]! - b[index]!));
  return worst;
}

async function main(): Promise<void> {
  const [load1] = loadavg();
  console.log(`kiln bench:fold — ${cpus()[0]?.model.trim() ?? 'unknown CPU'} (${cpus().length} cores, load ${load1!.toFixed(2)}), node ${process.version}, sharp ${sharp.versions.sharp}`);
  console.log(`MobileNetV2 224×224 (1000 classes), batch ${BATCH}, preset imagenet, onnxruntime 1 intra-op thread; ${ROUNDS} alternating rounds of ${ROUND_MS} ms per path and image`);
  const model = buildMobileNetV2();
  const options = { intraOpThreads: 1 } as const;
  const floatEngine = await Engine.load(encodeModel(model), options);
  const foldedEngine = await Engine.load(encodeModel(foldForDescription(model, PREPROCESS)), options);
  const logits = async (engine: Engine, tensor: HostTensor) => (await engine.run({ input: tensor }))['logits']!.data as Float32Array;
  const paths: Path[] = [
    {
      name: 'float (prepareImage + float32 batch)',
      prepare: async (images) => ({ type: 'float32', ...stack(await Promise.all(images.map((bytes) => prepareImage(bytes, PREPROCESS))), (n) => new Float32Array(n)) }),
      run: (tensor) => logits(floatEngine, tensor),
    },
    {
      name: 'folded (prepareImagePixels + uint8 batch)',
      prepare: async (images) => ({ type: 'uint8', ...stack(await Promise.all(images.map((bytes) => prepareImagePixels(bytes, PREPROCESS))), (n) => new Uint8Array(n)) }),
      run: (tensor) => logits(foldedEngine, tensor),
    },
  ];
  const rows: string[][] = [];
  for (const [width, height] of [[224, 224], [1280, 960]] as const) {
    const images = Array.from({ length: BATCH }, () => undefined);
    const bytes = await jpeg(width, height);
    const batch = images.map(() => bytes);
    const outputs = await Promise.all(paths.map(async (path) => path.run(await path.prepare(batch)))); // warm-up
    const diff = maxAbsDiff(outputs[0]!, outputs[1]!);
    const tallies = paths.map((): Tally => ({ cpuMs: 0, prepareCpuMs: 0, wallMs: 0, images: 0 }));
    for (let r = 0; r < ROUNDS; r++) {
      for (const [index, path] of paths.entries()) await round(path, batch, tallies[index]!);
    }
    const perImage = (tally: Tally) => tally.cpuMs / tally.images;
    const base = perImage(tallies[0]!);
    for (const [index, path] of paths.entries()) {
      const tally = tallies[index]!;
      rows.push([
        `${width}×${height} JPEG`,
        path.name,
        perImage(tally).toFixed(2),
        (tally.prepareCpuMs / tally.images).toFixed(2),
        (tally.wallMs / tally.images).toFixed(2),
        (perImage(tally) / base).toFixed(2),
        index === 0 ? '' : diff.toExponential(1),
        String(tally.images),
      ]);
    }
  }
  console.log(table(['image', 'path', 'CPU ms/image', 'of which preprocess', 'wall ms/image', 'CPU vs float', 'max |Δlogit|', 'images'], rows));
  await floatEngine.release();
  await foldedEngine.release();
  await loadTimes(encodeModel(model));
}

/** Median wall and CPU ms of loading the model for image_classifier with folding on and off. */
async function loadTimes(onnx: Uint8Array): Promise<void> {
  const folder = mkdtempSync(join(tmpdir(), 'kiln-bench-fold-'));
  try {
    const path = join(folder, 'mobilenet.onnx');
    writeFileSync(path, onnx);
    const samples = { on: [] as [number, number][], off: [] as [number, number][] };
    for (let run = 0; run < 5; run++) {
      for (const fold of [true, false]) {
        const cpu = process.cpuUsage();
        const start = performance.now();
        const loaded = await loadImageModel('image_classifier', path, 'imagenet', { fold, logger: silentLogger(), engine: { intraOpThreads: 1 } });
        const used = process.cpuUsage(cpu);
        samples[fold ? 'on' : 'off'].push([performance.now() - start, (used.user + used.system) / 1000]);
        await loaded.engine.release();
      }
    }
    const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!.toFixed(0);
    console.log(
      table(
        ['load (14 MB model)', 'wall ms (median of 5)', 'CPU ms'],
        (['off', 'on'] as const).map((key) => [key === 'on' ? 'fold on (read, fold, session from bytes)' : 'fold off (session from the path)', median(samples[key].map(([wall]) => wall)), median(samples[key].map(([, cpu]) => cpu))]),
      ),
    );
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

await main();
