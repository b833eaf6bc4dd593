/**
 * What the `classify` suite serves: the MobileNetV2-shaped fixture in FP32 and INT8 (quantized by
 * kiln's own `quantize`, static, calibrated on seeded images through the `imagenet` preset), the
 * image_classifier archives of both, and the JPEG request bodies at 224×224 and camera size.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { seededRandom } from '../../src/core/random.js';
import { createModelArchive } from '../../src/handlers/model-archive.js';
import { IMAGE_PRESETS } from '../../src/image/index.js';
import { writeModel } from '../../src/onnx/index.js';
import { calibrationConfig } from '../../src/quantize/calibrate/index.js';
import { imageBytesTensor } from '../../src/quantize/data/index.js';
import { quantize } from '../../src/optimize/quantize.js';
import { buildMobileNetV2 } from '../../test/fixtures/mobilenet-v2.js';
import { CLASSIFY_BATCH, CLASSIFY_MAX_BATCH_DELAY_MS } from './options.js';

/** The two models of the suite, by the name both servers serve them under. */
export const CLASSIFY_MODELS = ['mnv2-fp32', 'mnv2-int8'] as const;
export type ClassifyModel = (typeof CLASSIFY_MODELS)[number];

/** One request size: its name in the tables and its JPEG bodies (cycled by the clients). */
export interface ImageSet {
  readonly name: string;
  readonly width: number;
  readonly height: number;
  readonly bodies: readonly Buffer[];
}

/**
 * A photo-like image: smooth colour gradients, a few filled shapes with soft edges, and pixel
 * noise, so a quality-85 JPEG of it is about as large as one of a real photo of that size.
 */
export async function syntheticPhoto(width: number, height: number, seed: number, quality = 85): Promise<Buffer> {
  const random = seededRandom(seed);
  const pixels = Buffer.alloc(width * height * 3);
  const phase = [random() * 6.28, random() * 6.28, random() * 6.28];
  const shapes = Array.from({ length: 6 }, () => ({
    x: random() * width,
    y: random() * height,
    r: (0.08 + random() * 0.25) * Math.min(width, height),
    colour: [random() * 255, random() * 255, random() * 255],
    round: random() < 0.6,
  }));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = x / width;
      const v = y / height;
      const at = (y * width + x) * 3;
      let colour = [0, 1, 2].map((c) => 128 + 90 * Math.sin(3 * u + 2 * v + phase[c]!) * Math.cos(2 * v - u + c));
      for (const s of shapes) {
        const dx = x - s.x;
        const dy = y - s.y;
        const distance = s.round ? Math.sqrt(dx * dx + dy * dy) : Math.max(Math.abs(dx), Math.abs(dy));
        const inside = Math.min(1, Math.max(0, (s.r - distance) / 6));
        if (inside > 0) colour = colour.map((value, c) => value * (1 - inside) + s.colour[c]! * inside * (0.8 + 0.2 * Math.sin(x / 9 + y / 13)));
      }
      for (let c = 0; c < 3; c++) pixels[at + c] = Math.max(0, Math.min(255, colour[c]! + (random() - 0.5) * 24));
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality }).toBuffer();
}

/** `count` distinct JPEGs of one size, seeds from `firstSeed`. */
export async function imageSet(name: string, width: number, height: number, count: number, firstSeed: number): Promise<ImageSet> {
  const bodies: Buffer[] = [];
  for (let index = 0; index < count; index++) bodies.push(await syntheticPhoto(width, height, firstSeed + index));
  return { name, width, height, bodies };
}

/** Labels both servers answer with (`class 17`), so their answers compare key for key. */
const LABELS = JSON.stringify(Object.fromEntries(Array.from({ length: 1000 }, (_, index) => [String(index), `class ${index}`])));

/**
 * Writes the FP32 fixture and its INT8 quantization to `root` (calibrated on `calibration`
 * JPEGs through the `imagenet` preset, kiln's default method), archives both as
 * image_classifier with `handler.image: imagenet` and batching into `store`, and returns the
 * .onnx paths by model name.
 */
export async function buildClassifyModels(root: string, store: string, calibration: readonly Buffer[]): Promise<Record<ClassifyModel, string>> {
  const paths: Record<ClassifyModel, string> = { 'mnv2-fp32': join(root, 'mobilenet-v2.fp32.onnx'), 'mnv2-int8': join(root, 'mobilenet-v2.int8.onnx') };
  const model = buildMobileNetV2();
  writeModel(model, paths['mnv2-fp32']);
  const started = performance.now();
  await quantize(
    { path: paths['mnv2-fp32'], model },
    {
      mode: { kind: 'static', calibration: calibrationConfig(), scheme: 'U8S8', perChannel: true, reduceRange: false, excludeNodes: [], excludeOpTypes: [] },
      output: paths['mnv2-int8'],
      force: true,
      data: {
        source: {
          description: `${calibration.length} synthetic JPEGs`,
          count: calibration.length,
          async *samples() {
            for (const [index, jpeg] of calibration.entries()) yield { input: await imageBytesTensor(jpeg, IMAGE_PRESETS.imagenet, `calibration-${index}.jpg`) };
          },
        },
      },
      sqnrSamples: 0,
    },
  );
  console.log(`classify: quantized MobileNetV2 to INT8 on ${calibration.length} images in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  writeFileSync(join(root, 'index_to_name.json'), LABELS);
  const config = [`batchSize: ${CLASSIFY_BATCH}`, `maxBatchDelay: ${CLASSIFY_MAX_BATCH_DELAY_MS}`, 'handler:', '  image: imagenet', '  topk: 5', ''].join('\n');
  for (const name of Object.keys(paths) as ClassifyModel[]) {
    const dir = join(root, name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'model-config.yaml'), config);
    await createModelArchive({
      modelName: name,
      version: '1.0',
      serializedFile: paths[name],
      handler: 'image_classifier',
      extraFiles: [join(root, 'index_to_name.json')],
      configFile: join(dir, 'model-config.yaml'),
      exportPath: store,
      format: 'default',
      force: true,
    });
  }
  return paths;
}
