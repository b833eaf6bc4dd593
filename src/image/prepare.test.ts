import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { KilnError } from '../core/errors.js';
import { resolveImagePreprocess } from './description.js';
import { planResize } from './geometry.js';
import { canFoldPreprocess, decodeRgb, normalize, prepareImage, prepareImagePixels } from './prepare.js';
import { parseImagePreprocess } from './spec-string.js';

/** Two RGB pixels: (10, 20, 30) and (40, 50, 60). */
const TWO = new Uint8Array([10, 20, 30, 40, 50, 60]);

describe('normalize', () => {
  it('indexes mean and std by tensor channel: with BGR, mean[0] is the blue channel', () => {
    const preprocess = parseImagePreprocess('resize=stretch:2x1,scale=1,mean=1,2,3,std=1,2,4,order=bgr');
    const { dims, data } = normalize(TWO, 3, planResize(preprocess.resize, 2, 1), preprocess);
    assert.deepEqual(dims, [1, 3, 1, 2]);
    // Channel 0 = B: (30 − 1) / 1, (60 − 1) / 1; channel 1 = G: (20 − 2) / 2, …; channel 2 = R: (10 − 3) / 4, …
    assert.deepEqual([...data], [29, 59, 9, 24, 1.75, 9.25]);
  });

  it('lays out NHWC and reads a grey source for every colour channel', () => {
    const nhwc = parseImagePreprocess('resize=stretch:2x1,scale=1,layout=nhwc');
    assert.deepEqual([...normalize(TWO, 3, planResize(nhwc.resize, 2, 1), nhwc).data], [10, 20, 30, 40, 50, 60]);
    const grey = new Uint8Array([7, 9]);
    assert.deepEqual([...normalize(grey, 1, planResize(nhwc.resize, 2, 1), nhwc).data], [7, 7, 7, 9, 9, 9]);
    const gray = parseImagePreprocess('resize=stretch:2x1,scale=1,order=gray,mean=1');
    const one = normalize(grey, 1, planResize(gray.resize, 2, 1), gray);
    assert.deepEqual([one.dims, [...one.data]], [[1, 1, 1, 2], [6, 8]]);
  });

  it('places the window and fills the rest with padValue (letterbox)', () => {
    const preprocess = parseImagePreprocess('resize=pad:2x3,scale=1,pad=-1,layout=nhwc');
    // A 2×1 image in a 2×3 letterbox: resized 2×1, placed on row 1.
    const { data } = normalize(TWO, 3, planResize(preprocess.resize, 2, 1), preprocess);
    assert.deepEqual([...data], [-1, -1, -1, -1, -1, -1, 10, 20, 30, 40, 50, 60, -1, -1, -1, -1, -1, -1]);
  });
});

describe('prepareImage', () => {
  it('turns an EXIF-rotated JPEG upright before planning the geometry', async () => {
    const jpeg = await sharp({ create: { width: 40, height: 20, channels: 3, background: '#808080' } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const { dims } = await prepareImage(jpeg, parseImagePreprocess('resize=multiple-of:1000:1'));
    assert.deepEqual(dims, [1, 3, 40, 20]);
    const page = await decodeRgb(jpeg);
    assert.deepEqual([page.width, page.height], [20, 40]);
  });

  it('gives the same tensor from encoded PNG bytes as from their decoded pixels', async () => {
    const raw = Buffer.alloc(30 * 10 * 3);
    for (let index = 0; index < raw.length; index++) raw[index] = (index * 37) % 256;
    const png = await sharp(raw, { raw: { width: 30, height: 10, channels: 3 } }).png().toBuffer();
    const preprocess = resolveImagePreprocess({ preset: 'ppocr-rec' });
    const fromBytes = await prepareImage(png, preprocess);
    const fromPixels = await prepareImage({ width: 30, height: 10, channels: 3, data: raw }, preprocess);
    assert.deepStrictEqual(fromBytes, fromPixels);
    assert.deepEqual(fromBytes.dims, [1, 3, 48, 320]);
  });

  it('refuses bytes that are not an image with KILN_IMAGE_DECODE_FAILED', async () => {
    await assert.rejects(prepareImage(new TextEncoder().encode('not an image'), parseImagePreprocess('imagenet')), (error: unknown) => {
      assert.ok(error instanceof KilnError);
      assert.equal(error.code, 'KILN_IMAGE_DECODE_FAILED');
      assert.match(error.message, /^not an image kiln can decode/);
      return true;
    });
  });
});

describe('prepareImagePixels', () => {
  it('folds only the fixed-size modes without padding', () => {
    const modes = ['stretch:8x8', 'shorter-side:10:8', 'pad:8x8', 'height:8:16', 'multiple-of:64:8'];
    assert.deepEqual(
      modes.map((mode) => canFoldPreprocess(parseImagePreprocess(`resize=${mode}`))),
      [true, true, false, false, false],
    );
  });

  it('gives the window prepareImage normalizes, as uint8 NHWC in source order (BGR left to the model)', async () => {
    const raw = Buffer.alloc(30 * 10 * 3);
    for (let index = 0; index < raw.length; index++) raw[index] = (index * 37) % 256;
    const preprocess = parseImagePreprocess('resize=shorter-side:12:8,scale=1,order=bgr');
    const pixels = await prepareImagePixels({ width: 30, height: 10, channels: 3, data: raw }, preprocess);
    assert.deepEqual(pixels.dims, [1, 8, 8, 3]);
    const tensor = await prepareImage({ width: 30, height: 10, channels: 3, data: raw }, preprocess);
    // With scale 1, mean 0, std 1 the tensor is the pixels: tensor channel 0 (blue) is source band 2.
    const plane = 8 * 8;
    for (let pixel = 0; pixel < plane; pixel++) {
      assert.deepEqual([0, 1, 2].map((c) => tensor.data[c * plane + pixel]), [2, 1, 0].map((band) => pixels.data[pixel * 3 + band]));
    }
  });

  it('gives three bands for a grey source and one for gray, and refuses a padding mode', async () => {
    const grey = { width: 4, height: 2, channels: 1 as const, data: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) };
    const rgb = await prepareImagePixels(grey, parseImagePreprocess('resize=stretch:4x2'));
    assert.deepEqual([rgb.dims, [...rgb.data.slice(0, 6)]], [[1, 2, 4, 3], [1, 1, 1, 2, 2, 2]]);
    const gray = await prepareImagePixels(grey, parseImagePreprocess('resize=stretch:4x2,order=gray'));
    assert.deepEqual([gray.dims, [...gray.data]], [[1, 2, 4, 1], [1, 2, 3, 4, 5, 6, 7, 8]]);
    await assert.rejects(prepareImagePixels(grey, parseImagePreprocess('resize=pad:4x4')), (error: unknown) => error instanceof KilnError && error.code === 'KILN_IMAGE_PREPROCESS_INVALID');
  });
});
