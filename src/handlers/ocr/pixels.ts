/**
 * Pixel moves of the OCR steps on decoded crops: columns cut out, half and quarter turns. No
 * resampling happens here; that is the image module's (src/image) one implementation.
 */
import type { RgbImage } from './types.js';

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
