/**
 * The promise of the image module: calibration and serving give bit-identical tensors for the
 * same image and description. Calibration's reader (a folder source, as `kiln quantize --calib`
 * opens it) and the handlers' preprocessing (image_classifier's batch step with `handler.image`
 * resolved from model-config.yaml, and the OCR pipeline's det/rec/cls steps) run on the same
 * files — a JPEG photo, a PNG with alpha, an EXIF-rotated JPEG — and their Float32Arrays are
 * compared with deepStrictEqual, for every resize mode, RGB and BGR, NCHW and NHWC.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { resolveHandlerImage } from '../../src/handlers/image-config.js';
import { prepareImageBatch } from '../../src/handlers/builtins/image-classifier.js';
import { classifyOrientation } from '../../src/handlers/ocr/classify.js';
import { detectText } from '../../src/handlers/ocr/detect.js';
import { recognizeCrops } from '../../src/handlers/ocr/recognize.js';
import { decodeRequestImage } from '../../src/handlers/request-image.js';
import { parseCharset } from '../../src/handlers/ocr/ctc.js';
import { IMAGE_PRESETS, parseImagePreprocess, type ImagePreprocess } from '../../src/image/index.js';
import { imageFolderSource } from '../../src/quantize/data/images.js';
import type { Engine } from '../../src/runtime/engine.js';
import type { HostTensor } from '../../src/runtime/tensors.js';

const scratch = mkdtempSync(join(tmpdir(), 'kiln-image-parity-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A deterministic 'photo': smooth gradients with a seeded texture, so resizing has work to do. */
function photo(width: number, height: number, channels: 3 | 4): Buffer {
  const data = Buffer.alloc(width * height * channels);
  let seed = 7;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const at = (y * width + x) * channels;
      data[at] = (x * 255) / width;
      data[at + 1] = (y * 255) / height;
      data[at + 2] = (seed >>> 24) & 0xff;
      if (channels === 4) data[at + 3] = (x + y) % 256;
    }
  }
  return data;
}

const FILES = ['a-photo.jpg', 'b-alpha.png', 'c-exif-rotated.jpg'] as const;

before(async () => {
  mkdirSync(join(scratch, 'all'));
  await sharp(photo(640, 480, 3), { raw: { width: 640, height: 480, channels: 3 } }).jpeg({ quality: 90 }).toFile(join(scratch, 'all', FILES[0]));
  await sharp(photo(300, 120, 4), { raw: { width: 300, height: 120, channels: 4 } }).png().toFile(join(scratch, 'all', FILES[1]));
  // Stored 400×300 with EXIF orientation 6 (turn 90° clockwise to view): viewed 300×400.
  await sharp(photo(400, 300, 3), { raw: { width: 400, height: 300, channels: 3 } }).jpeg().withMetadata({ orientation: 6 }).toFile(join(scratch, 'all', FILES[2]));
  for (const file of FILES) {
    mkdirSync(join(scratch, file));
    writeFileSync(join(scratch, file, file), readFileSync(join(scratch, 'all', file)));
  }
});

/** The calibration reader's tensor for each file of the folder, in name order. */
async function calibrationTensors(folder: string, preprocess: ImagePreprocess): Promise<HostTensor[]> {
  const tensors: HostTensor[] = [];
  for await (const feeds of imageFolderSource(folder, { input: 'x', preprocess }).samples()) tensors.push(feeds['x']!);
  return tensors;
}

/** A stand-in engine that keeps each feed and answers with zeros of the given shape. */
function recordingEngine(outputDims: (input: readonly number[]) => number[]): { engine: Engine; fed: HostTensor[] } {
  const fed: HostTensor[] = [];
  const engine = {
    label: 'recording',
    async run(feeds: Record<string, HostTensor>) {
      const input = feeds['x']!;
      fed.push(input);
      const dims = outputDims(input.dims);
      return { y: { type: 'float32', dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)) } };
    },
  } as unknown as Engine;
  return { engine, fed };
}

const RESIZES = [
  'stretch:200x100',
  'shorter-side:256:224',
  'pad:224x160',
  'height:48:320',
  'height:48:320-960:8',
  'multiple-of:256:32',
];

describe('calibration and serving tensors are bit-identical', () => {
  for (const resize of RESIZES) {
    for (const order of ['rgb', 'bgr'] as const) {
      for (const layout of ['nchw', 'nhwc'] as const) {
        it(`resize=${resize}, ${order}, ${layout}`, async () => {
          const spec = `resize=${resize},mean=0.485,0.456,0.406,std=0.229,0.224,0.225,order=${order},layout=${layout},pad=-1`;
          const calibration = await calibrationTensors(join(scratch, 'all'), parseImagePreprocess(spec));
          // The handler resolves model-config.yaml's handler.image (here the same string form).
          const served = resolveHandlerImage('image_classifier', spec, []);
          for (const [index, file] of FILES.entries()) {
            const batch = await prepareImageBatch([{ data: readFileSync(join(scratch, 'all', file)) }], served);
            assert.ok(batch.tensor, `${file} prepared`);
            assert.deepStrictEqual(batch.tensor.dims, calibration[index]!.dims, file);
            assert.deepStrictEqual(batch.tensor.data, calibration[index]!.data, file);
          }
        });
      }
    }
  }

  it('every kernel, through the old handler form too (cubic, kept for archives written for it)', async () => {
    for (const kernel of ['linear', 'cubic', 'lanczos3']) {
      const spec = `resize=shorter-side:256:224,kernel=${kernel},mean=0.485,0.456,0.406,std=0.229,0.224,0.225`;
      const calibration = await calibrationTensors(join(scratch, 'all'), parseImagePreprocess(spec));
      const served = kernel === 'cubic' ? resolveHandlerImage('image_classifier', { size: [224, 224], resize: 256, fit: 'crop' }, []) : resolveHandlerImage('image_classifier', spec, []);
      assert.deepStrictEqual(served, parseImagePreprocess(spec), kernel);
      for (const [index, file] of FILES.entries()) {
        const batch = await prepareImageBatch([{ data: readFileSync(join(scratch, 'all', file)) }], served);
        assert.deepStrictEqual(batch.tensor!.data, calibration[index]!.data, `${kernel} ${file}`);
      }
    }
  });

  it('the mapping form in model-config.yaml gives the same tensors as the string form', async () => {
    const mapping = resolveHandlerImage('image_classifier', { preset: 'imagenet', layout: 'NHWC' }, []);
    assert.deepStrictEqual(mapping, parseImagePreprocess('preset=imagenet,layout=nhwc'));
    const calibration = await calibrationTensors(join(scratch, 'all'), parseImagePreprocess('preset=imagenet,layout=nhwc'));
    const batch = await prepareImageBatch([{ data: readFileSync(join(scratch, 'all', FILES[0])) }], mapping);
    assert.deepStrictEqual(batch.tensor!.data, calibration[0]!.data);
  });

  it('the EXIF-rotated JPEG is served upright, as calibration reads it', async () => {
    const [tensor] = await calibrationTensors(join(scratch, FILES[2]), parseImagePreprocess('resize=multiple-of:4000:1'));
    // Viewed 300 wide, 400 high.
    assert.deepStrictEqual(tensor!.dims, [1, 3, 400, 300]);
  });

  it('OCR detection (ppocr-det) from the page bytes equals calibration with --preprocess ppocr-det', async () => {
    for (const file of FILES) {
      const bytes = readFileSync(join(scratch, 'all', file));
      const { engine, fed } = recordingEngine(([n = 1, , h = 0, w = 0]) => [n, 1, h, w]);
      await detectText(engine, await decodeRequestImage(bytes), undefined, bytes);
      const [calibration] = await calibrationTensors(join(scratch, file), IMAGE_PRESETS['ppocr-det']);
      assert.deepStrictEqual(fed[0]!.dims, calibration!.dims, file);
      assert.deepStrictEqual(fed[0]!.data, calibration!.data, file);
    }
  });

  it('OCR recognition (ppocr-rec) and orientation (ppocr-cls) of a line crop equal calibration on the line image', async () => {
    // The OCR steps get decoded crops; a line saved as PNG and calibrated from gives the same tensor.
    const line = join(scratch, 'line');
    mkdirSync(line);
    await sharp(photo(300, 40, 3), { raw: { width: 300, height: 40, channels: 3 } }).png().toFile(join(line, 'line.png'));
    const crop = await decodeRequestImage(readFileSync(join(line, 'line.png')));
    const charset = parseCharset('a\nb\n');
    const rec = recordingEngine(([n = 1, , , w = 0]) => [n, Math.max(1, w / 8), charset.length]);
    await recognizeCrops(rec.engine, [crop], charset);
    const [recCalibration] = await calibrationTensors(line, IMAGE_PRESETS['ppocr-rec']);
    assert.deepStrictEqual(rec.fed[0]!.dims, recCalibration!.dims);
    assert.deepStrictEqual(rec.fed[0]!.data, recCalibration!.data);
    // 300×40 is under the classifier's 4:1 window, so it is classified whole.
    const cls = recordingEngine(([n = 1]) => [n, 2]);
    await sharp(photo(150, 40, 3), { raw: { width: 150, height: 40, channels: 3 } }).png().toFile(join(line, 'line.png'));
    await classifyOrientation(cls.engine, [await decodeRequestImage(readFileSync(join(line, 'line.png')))]);
    const [clsCalibration] = await calibrationTensors(line, IMAGE_PRESETS['ppocr-cls']);
    assert.deepStrictEqual(cls.fed[0]!.dims, clsCalibration!.dims);
    assert.deepStrictEqual(cls.fed[0]!.data, clsCalibration!.data);
  });
});

describe('normalize indexes mean and std by tensor channel', () => {
  it('with BGR, mean[0] and std[0] apply to the blue channel', async () => {
    const folder = join(scratch, 'solid');
    mkdirSync(folder);
    await sharp({ create: { width: 4, height: 4, channels: 3, background: { r: 200, g: 100, b: 50 } } }).png().toFile(join(folder, 'solid.png'));
    const [tensor] = await calibrationTensors(folder, parseImagePreprocess('resize=stretch:2x2,scale=1,mean=10,20,30,std=2,4,5,order=bgr'));
    const data = tensor!.data as Float32Array;
    // Tensor channel 0 is blue: (50 − 10) / 2; channel 1 green: (100 − 20) / 4; channel 2 red: (200 − 30) / 5.
    assert.deepStrictEqual([data[0], data[4], data[8]], [20, 20, 34]);
    const [rgb] = await calibrationTensors(folder, parseImagePreprocess('resize=stretch:2x2,scale=1,mean=10,20,30,std=2,4,5,order=rgb'));
    assert.deepStrictEqual([...(rgb!.data as Float32Array)].filter((_, index) => index % 4 === 0), [95, 20, 4]);
  });
});
