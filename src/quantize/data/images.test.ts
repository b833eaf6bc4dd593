import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { KilnError } from '../../core/errors.js';
import { resolveImagePreprocess, type ImageResize } from '../../image/index.js';
import { imageFolderSource, imageTensor } from './images.js';
import type { Feeds } from './types.js';

const scratch = mkdtempSync(join(tmpdir(), 'kiln-images-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A 4×2 RGB image whose pixel (x, y) is (10x + y, 100 + x, 200 − y). */
function pixels(width = 4, height = 2): Buffer {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set([10 * x + y, 100 + x, 200 - y], (y * width + x) * 3);
  }
  return data;
}

async function writePng(path: string, width = 4, height = 2): Promise<void> {
  await sharp(pixels(width, height), { raw: { width, height, channels: 3 } }).png().toFile(path);
}

async function collect(samples: AsyncIterable<Feeds>): Promise<Feeds[]> {
  const all: Feeds[] = [];
  for await (const feeds of samples) all.push(feeds);
  return all;
}

function preprocess(resize: ImageResize, rest: Record<string, unknown> = {}) {
  return resolveImagePreprocess({ resize, scale: 1, ...rest });
}

before(async () => {
  await writePng(join(scratch, 'exact.png'));
  await writePng(join(scratch, 'wide.png'), 6, 4);
});

describe('imageTensor', () => {
  it('writes normalized NCHW values, channel by channel', async () => {
    const tensor = await imageTensor(join(scratch, 'exact.png'), preprocess({ mode: 'stretch', width: 4, height: 2 }, { mean: [1, 2, 3], std: [2, 2, 2] }));
    assert.equal(tensor.type, 'float32');
    assert.deepEqual(tensor.dims, [1, 3, 2, 4]);
    const data = tensor.data as Float32Array;
    // R of pixel (3, 1) = 31: (31 − 1) / 2; G of (2, 0) = 102: (102 − 2) / 2; B of (0, 1) = 199: (199 − 3) / 2.
    assert.equal(data[0 * 8 + 1 * 4 + 3], 15);
    assert.equal(data[1 * 8 + 0 * 4 + 2], 50);
    assert.equal(data[2 * 8 + 1 * 4 + 0], 98);
  });

  it('swaps to BGR and lays out NHWC on request', async () => {
    const tensor = await imageTensor(join(scratch, 'exact.png'), preprocess({ mode: 'stretch', width: 4, height: 2 }, { channelOrder: 'bgr', layout: 'nhwc' }));
    assert.deepEqual(tensor.dims, [1, 2, 4, 3]);
    // Pixel (1, 1): RGB (11, 101, 199) → BGR.
    assert.deepEqual([...(tensor.data as Float32Array).subarray((1 * 4 + 1) * 3, (1 * 4 + 1) * 3 + 3)], [199, 101, 11]);
  });

  it('centre-crops after the shorter side is resized', async () => {
    // 6×4 with size 4 stays 6×4; a 2×2 crop starts at x = 2, y = 1.
    const tensor = await imageTensor(join(scratch, 'wide.png'), preprocess({ mode: 'shorter-side', size: 4, crop: 2 }));
    assert.deepEqual(tensor.dims, [1, 3, 2, 2]);
    assert.deepEqual([...(tensor.data as Float32Array).subarray(0, 4)], [21, 31, 22, 32]);
  });

  it('pads on the right with padValue in height mode', async () => {
    const tensor = await imageTensor(join(scratch, 'exact.png'), preprocess({ mode: 'height', height: 2, maxWidth: 7 }, { padValue: -5 }));
    assert.deepEqual(tensor.dims, [1, 3, 2, 7]);
    assert.deepEqual([...(tensor.data as Float32Array).subarray(7, 14)], [1, 11, 21, 31, -5, -5, -5]);
  });

  it('resizes with the default scale of 1/255 into [0, 1]', async () => {
    const tensor = await imageTensor(join(scratch, 'wide.png'), resolveImagePreprocess({ resize: { mode: 'multiple-of', maxSide: 960, multiple: 4 } }));
    assert.deepEqual(tensor.dims, [1, 3, 4, 8]);
    const data = tensor.data as Float32Array;
    assert.ok(data.every((value) => value >= 0 && value <= 1));
  });

  it('widens grey images to three channels and flattens alpha on white', async () => {
    const grey = join(scratch, 'grey.png');
    await sharp(Buffer.from([0, 50, 100, 150]), { raw: { width: 2, height: 2, channels: 1 } }).png().toFile(grey);
    const greyTensor = await imageTensor(grey, preprocess({ mode: 'stretch', width: 2, height: 2 }));
    assert.deepEqual([...(greyTensor.data as Float32Array)], [0, 50, 100, 150, 0, 50, 100, 150, 0, 50, 100, 150]);
    const rgba = join(scratch, 'rgba.png');
    await sharp(Buffer.from([10, 20, 30, 0, 40, 50, 60, 255]), { raw: { width: 2, height: 1, channels: 4 } }).png().toFile(rgba);
    const rgbaTensor = await imageTensor(rgba, preprocess({ mode: 'stretch', width: 2, height: 1 }));
    // Fully transparent → white; opaque → its own colour.
    assert.deepEqual([...(rgbaTensor.data as Float32Array)], [255, 40, 255, 50, 255, 60]);
    rmSync(grey);
    rmSync(rgba);
  });

  it('refuses a corrupt image, naming the file', async () => {
    const bad = join(scratch, 'bad', 'broken.png');
    mkdirSync(join(scratch, 'bad'));
    writeFileSync(bad, Buffer.from('\x89PNG\r\n\x1a\nnot really'));
    await assert.rejects(imageTensor(bad, preprocess({ mode: 'stretch', width: 2, height: 2 })), (error: unknown) => {
      assert.ok(error instanceof KilnError);
      assert.equal(error.code, 'KILN_QUANTIZE_CALIBRATION_INVALID');
      assert.match(error.message, /broken\.png: not an image kiln can decode/);
      return true;
    });
  });
});

describe('imageFolderSource', () => {
  it('yields one sample per image in name order, png/jpg/jpeg/webp only, up to the limit', async () => {
    const folder = join(scratch, 'calib');
    mkdirSync(folder);
    const image = sharp(pixels(), { raw: { width: 4, height: 2, channels: 3 } });
    await image.clone().jpeg().toFile(join(folder, 'b.JPG'));
    await image.clone().webp().toFile(join(folder, 'c.webp'));
    await image.clone().jpeg().toFile(join(folder, 'd.jpeg'));
    await writePng(join(folder, 'a.png'));
    writeFileSync(join(folder, 'notes.txt'), 'not an image');
    writeFileSync(join(folder, '.hidden.png'), 'skipped');
    const options = { input: 'x', preprocess: preprocess({ mode: 'stretch', width: 4, height: 2 }) };
    const source = imageFolderSource(folder, options);
    assert.equal(source.count, 4);
    assert.equal(source.description, `4 images in ${folder}`);
    const samples = await collect(source.samples());
    assert.equal(samples.length, 4);
    assert.deepEqual(Object.keys(samples[0]!), ['x']);
    // The first is the PNG, decoded losslessly.
    assert.equal((samples[0]!['x']!.data as Float32Array)[3], 30);
    const limited = imageFolderSource(folder, { ...options, limit: 2 });
    assert.equal(limited.count, 2);
    assert.equal((await collect(limited.samples())).length, 2);
    // A second pass gives the same tensors.
    assert.deepEqual(await collect(limited.samples()), samples.slice(0, 2));
  });

  it('follows symbolic links to files wherever they point, skips links to folders, refuses broken ones', async () => {
    const elsewhere = join(scratch, 'elsewhere');
    const folder = join(scratch, 'linked');
    mkdirSync(join(elsewhere, 'sub'), { recursive: true });
    mkdirSync(folder);
    await writePng(join(elsewhere, 'real.png'));
    await writePng(join(elsewhere, 'sub', 'deep.png'));
    symlinkSync(join(elsewhere, 'real.png'), join(folder, 'a-link.png'));
    symlinkSync('../elsewhere/real.png', join(folder, 'b-relative.png'));
    symlinkSync(join(elsewhere, 'sub'), join(folder, 'c-folder.png'));
    const source = imageFolderSource(folder, { input: 'x', preprocess: preprocess({ mode: 'stretch', width: 4, height: 2 }) });
    assert.equal(source.count, 2);
    const samples = await collect(source.samples());
    assert.deepEqual(samples[0], samples[1]);
    assert.equal((samples[0]!['x']!.data as Float32Array)[3], 30);
    symlinkSync(join(elsewhere, 'missing.png'), join(folder, 'd-broken.png'));
    assert.throws(() => imageFolderSource(folder, { input: 'x', preprocess: preprocess({ mode: 'stretch', width: 4, height: 2 }) }), /d-broken\.png: a symbolic link that leads to no file/);
    symlinkSync(join(folder, 'e-loop.png'), join(folder, 'e-loop.png'));
    rmSync(join(folder, 'd-broken.png'));
    assert.throws(() => imageFolderSource(folder, { input: 'x', preprocess: preprocess({ mode: 'stretch', width: 4, height: 2 }) }), /e-loop\.png: a symbolic link that leads to no file .*ELOOP|e-loop\.png: a symbolic link that leads to no file/);
  });

  it('refuses a folder without images', () => {
    const empty = join(scratch, 'no-images');
    mkdirSync(empty);
    writeFileSync(join(empty, 'readme.md'), '');
    assert.throws(() => imageFolderSource(empty, { input: 'x', preprocess: preprocess({ mode: 'stretch', width: 2, height: 2 }) }), /no-images: no images \(\.png, \.jpg, \.jpeg, \.webp\)/);
  });

  it('reads ahead in order, and a consumer that stops early leaves no failure behind', async () => {
    const folder = join(scratch, 'ahead');
    mkdirSync(folder);
    for (let index = 0; index < 5; index++) await writePng(join(folder, `${index}.png`), 4 + index, 2);
    writeFileSync(join(folder, '5-broken.png'), Buffer.from('\x89PNG\r\n\x1a\nnot really'));
    const options = { input: 'x', preprocess: preprocess({ mode: 'height', height: 2, maxWidth: 9 }), readAhead: 3 };
    const widths: number[] = [];
    for await (const feeds of imageFolderSource(folder, options).samples()) {
      // Padded to 9: the real width shows as the first padding column.
      const row = [...(feeds['x']!.data as Float32Array).subarray(0, 9)];
      widths.push(row.indexOf(0, 1) === -1 ? 9 : row.indexOf(0, 1));
      if (widths.length === 4) break; // the broken image is in flight by now
    }
    assert.deepEqual(widths, [4, 5, 6, 7]);
    await new Promise((resolve) => setTimeout(resolve, 50));
  });

  it('reports a corrupt image when its sample is read', async () => {
    const source = imageFolderSource(join(scratch, 'bad'), { input: 'x', preprocess: preprocess({ mode: 'stretch', width: 2, height: 2 }) });
    await assert.rejects(collect(source.samples()), /broken\.png: not an image kiln can decode/);
  });
});
