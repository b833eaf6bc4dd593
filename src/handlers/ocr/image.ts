/**
 * Pixels in and out of the OCR pipeline: decoding with sharp, resampling with sharp, quarter
 * turns in plain code, and packing into the normalized NCHW float layout the PP-OCR models take.
 */
import sharp from 'sharp';
import type { RgbImage } from './types.js';

import { toRgb } from '../image.js';

export { decodeImage, MAX_INPUT_PIXELS } from '../image.js';

/** Resamples an image to exactly `width` × `height` (aspect ratio is the caller's business). */
export async function resizeImage(image: RgbImage, width: number, height: number): Promise<RgbImage> {
  if (image.width === width && image.height === height) return image;
  const { data, info } = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return toRgb(data, info.width, info.height, info.channels);
}

/**
 * Resamples to `height` rows keeping the aspect ratio, the width rounded up and capped at
 * `maxWidth` (a longer image is squeezed rather than cut, so no text is lost).
 */
export function resizeToHeight(image: RgbImage, height: number, maxWidth: number): Promise<RgbImage> {
  const width = Math.max(1, Math.min(maxWidth, Math.ceil((height * image.width) / image.height)));
  return resizeImage(image, width, height);
}

/** Columns `x0` (inclusive) to `x1` (exclusive) of an image, copied. */
export function sliceColumns(image: RgbImage, x0: number, x1: number): RgbImage {
  const width = x1 - x0;
  const out = new Uint8Array(width * image.height * 3);
  for (let y = 0; y < image.height; y++) {
    out.set(image.data.subarray((y * image.width + x0) * 3, (y * image.width + x1) * 3), y * width * 3);
  }
  return { width, height: image.height, data: out };
}

/** The image turned by 180° (pixel order reversed). */
export function rotate180(image: RgbImage): RgbImage {
  const out = new Uint8Array(image.data.length);
  const pixels = image.width * image.height;
  for (let pixel = 0; pixel < pixels; pixel++) {
    const source = (pixels - 1 - pixel) * 3;
    out[pixel * 3] = image.data[source]!;
    out[pixel * 3 + 1] = image.data[source + 1]!;
    out[pixel * 3 + 2] = image.data[source + 2]!;
  }
  return { width: image.width, height: image.height, data: out };
}

/** The image turned a quarter counter-clockwise: the top row becomes the left column, read upwards. */
export function rotate90CounterClockwise(image: RgbImage): RgbImage {
  const { width, height } = image;
  const out = new Uint8Array(image.data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      // Source (x, y) lands at column y, row (width - 1 - x) of the height × width result.
      const target = ((width - 1 - x) * height + y) * 3;
      const source = (y * width + x) * 3;
      out[target] = image.data[source]!;
      out[target + 1] = image.data[source + 1]!;
      out[target + 2] = image.data[source + 2]!;
    }
  }
  return { width: height, height: width, data: out };
}

/** Per-channel affine normalization `(pixel / 255 - mean) / std`, in tensor channel order. */
export interface Normalization {
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
}

/** Pixels mapped to [-1, 1], as the PP-OCR classifier and recognizer were trained. */
export const SIGNED_UNIT: Normalization = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };

/**
 * Writes `image` into one `[3, planeHeight, planeWidth]` slot of an NCHW float tensor, starting
 * at `offset`, at the top-left; the rest of the slot is left as it is (zero in a fresh array,
 * which is the padding PP-OCR was trained with). Channels go in B, G, R order: PaddleOCR decodes
 * with OpenCV, which yields BGR, and feeds that order to every model.
 */
export function writeChw(target: Float32Array, offset: number, image: RgbImage, planeWidth: number, planeHeight: number, norm: Normalization): void {
  const plane = planeWidth * planeHeight;
  const rows = Math.min(image.height, planeHeight);
  const cols = Math.min(image.width, planeWidth);
  for (const channel of [0, 1, 2] as const) {
    const band = 2 - channel;
    const scale = 1 / (255 * norm.std[channel]);
    const shift = norm.mean[channel] / norm.std[channel];
    const base = offset + channel * plane;
    for (let y = 0; y < rows; y++) {
      let source = y * image.width * 3 + band;
      const row = base + y * planeWidth;
      for (let x = 0; x < cols; x++, source += 3) target[row + x] = image.data[source]! * scale - shift;
    }
  }
}
