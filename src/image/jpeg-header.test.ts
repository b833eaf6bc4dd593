import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp, { type Sharp } from 'sharp';
import { KilnError } from '../core/errors.js';
import { readJpegGeometry } from './jpeg-header.js';
import { prepareImagePixels } from './prepare.js';
import { parseImagePreprocess } from './spec-string.js';

const base = () => sharp({ create: { width: 37, height: 23, channels: 3, background: '#3a7' } });

/** JPEGs as encoders write them: baseline, progressive, grey, CMYK, 4:4:4, ICC, every EXIF orientation. */
async function jpegVariants(): Promise<[string, Buffer][]> {
  const variants: [string, Buffer][] = [
    ['baseline', await base().jpeg().toBuffer()],
    ['progressive', await base().jpeg({ progressive: true }).toBuffer()],
    ['mozjpeg', await base().jpeg({ mozjpeg: true }).toBuffer()],
    ['grey', await base().toColourspace('b-w').jpeg().toBuffer()],
    ['cmyk', await base().toColourspace('cmyk').jpeg().toBuffer()],
    ['4:4:4', await base().jpeg({ chromaSubsampling: '4:4:4' }).toBuffer()],
    ['icc', await base().withIccProfile('p3').jpeg().toBuffer()],
    ['exif without orientation', await base().withExif({ IFD0: { Copyright: 'kiln' } }).jpeg().toBuffer()],
  ];
  for (let orientation = 1; orientation <= 8; orientation++) variants.push([`orientation ${orientation}`, await base().jpeg().withMetadata({ orientation }).toBuffer()]);
  return variants;
}

test("a JPEG's header reads as sharp's metadata() reads it", async () => {
  for (const [name, jpeg] of await jpegVariants()) {
    const meta = await sharp(jpeg).metadata();
    assert.deepEqual(readJpegGeometry(jpeg), { width: meta.width, height: meta.height, orientation: meta.orientation ?? 1 }, name);
  }
});

test('a plain Uint8Array, and a view inside a larger buffer, read as the Buffer does', async () => {
  // Handler threads get plain Uint8Arrays; the reader is handed a Buffer over the same memory,
  // which must start at the view's own offset and end at its own end.
  for (const [name, jpeg] of await jpegVariants()) {
    const expected = readJpegGeometry(jpeg);
    assert.deepEqual(readJpegGeometry(new Uint8Array(jpeg)), expected, `${name}, plain copy`);
    const backing = new Uint8Array(jpeg.length + 64).fill(0xff);
    backing.set(jpeg, 32);
    const view = backing.subarray(32, 32 + jpeg.length);
    assert.deepEqual(readJpegGeometry(view), expected, `${name}, view at offset 32`);
    assert.deepEqual(view, new Uint8Array(jpeg), `${name}: the bytes are left as they were`);
  }
  const jpeg = await base().jpeg().toBuffer();
  const cut = new Uint8Array(jpeg.length + 32).fill(0xff);
  cut.set(jpeg.subarray(0, 20), 0);
  assert.equal(readJpegGeometry(cut.subarray(0, 20)), undefined, 'a view cut before the frame header does not read past its end');
});

test('anything but a clean JPEG header is left to sharp', async () => {
  const jpeg = await base().jpeg().toBuffer();
  assert.equal(readJpegGeometry(await base().png().toBuffer()), undefined);
  assert.equal(readJpegGeometry(await base().webp().toBuffer()), undefined);
  assert.equal(readJpegGeometry(new TextEncoder().encode('not an image')), undefined);
  assert.equal(readJpegGeometry(jpeg.subarray(0, 20)), undefined, 'cut before the frame header');
  assert.equal(readJpegGeometry(new Uint8Array(0)), undefined);
});

test('a JPEG cut after its header still fails to decode (the header read does not let it through)', async () => {
  const jpeg = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#3a7' } }).jpeg().toBuffer();
  const cut = jpeg.subarray(0, Math.floor(jpeg.length / 2));
  assert.ok(readJpegGeometry(cut), 'the header itself is complete');
  await assert.rejects(prepareImagePixels(cut, parseImagePreprocess('imagenet')), (error: unknown) => error instanceof KilnError && error.code === 'KILN_IMAGE_DECODE_FAILED');
});

test('every orientation gives the pixels of the image turned upright first', async () => {
  // An asymmetric image: each orientation must land on the same upright pixels.
  const upright = await sharp({ create: { width: 30, height: 20, channels: 3, background: '#000' } })
    .composite([{ input: { create: { width: 10, height: 5, channels: 3, background: '#fff' } }, left: 0, top: 0 }])
    .png()
    .toBuffer();
  const preprocess = parseImagePreprocess('resize=stretch:15x10,layout=nhwc');
  const expected = await prepareImagePixels(await sharp(upright).jpeg({ quality: 100 }).toBuffer(), preprocess);
  // The stored image is the upright one turned so that the EXIF orientation turns it back.
  const stored: Record<number, (image: Sharp) => Sharp> = {
    3: (image) => image.rotate(180),
    6: (image) => image.rotate(-90),
    8: (image) => image.rotate(90),
  };
  for (const [orientation, turn] of Object.entries(stored)) {
    const raw = await turn(sharp(upright)).png().toBuffer();
    const jpeg = await sharp(raw).jpeg({ quality: 100 }).withMetadata({ orientation: Number(orientation) }).toBuffer();
    const pixels = await prepareImagePixels(jpeg, preprocess);
    assert.deepEqual(pixels.dims, expected.dims, `orientation ${orientation}`);
    const differs = pixels.data.reduce((worst, value, index) => Math.max(worst, Math.abs(value - expected.data[index]!)), 0);
    assert.ok(differs <= 8, `orientation ${orientation}: largest difference ${differs}`);
  }
});
