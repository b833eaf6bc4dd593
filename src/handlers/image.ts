import sharp from 'sharp';
import { z } from 'zod';
import { KilnError, describeError } from '../core/errors.js';
import type { RgbImage } from './ocr/types.js';

/**
 * How an image becomes a model input, declared in model-config.yaml under `handler.image`.
 * `fit: crop` is torchvision's Resize(resize) + CenterCrop(size); `stretch` resizes to `size`
 * exactly; `pad` keeps the aspect ratio at the target height and zero-pads on the right (PP-OCR).
 */
export const ImageTransformSchema = z.strictObject({
  size: z.tuple([z.number().int().positive(), z.number().int().positive()]).optional(),
  resize: z.number().int().positive().optional(),
  fit: z.enum(['crop', 'stretch', 'pad']).default('crop'),
  mean: z.tuple([z.number(), z.number(), z.number()]).default([0.485, 0.456, 0.406]),
  std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]).default([0.229, 0.224, 0.225]),
  channelOrder: z.enum(['RGB', 'BGR']).default('RGB'),
  layout: z.enum(['NCHW', 'NHWC']).default('NCHW'),
});

export type ImageTransform = Readonly<z.infer<typeof ImageTransformSchema>> & { readonly size: readonly [number, number] };

/** Larger images are refused before decoding (a decompression-bomb guard). */
export const MAX_INPUT_PIXELS = 100_000_000;

/**
 * Decodes PNG/JPEG/WebP/GIF/AVIF/TIFF bytes into 8-bit RGB. EXIF orientation is applied, so
 * coordinates refer to the image as viewers show it; transparency is flattened onto white
 * (text on a transparent PNG is dark on nothing, and dropping alpha would leave it dark on
 * black). Truncated files are refused rather than read in part.
 * @throws KilnError `KILN_HANDLER_INPUT_INVALID` when sharp cannot decode the bytes.
 */
export async function decodeImage(bytes: Uint8Array, requestIndex?: number): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(bytes, { failOn: 'error', limitInputPixels: MAX_INPUT_PIXELS })
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    return toRgb(data, info.width, info.height, info.channels);
  } catch (error) {
    const which = requestIndex === undefined ? 'the request' : `request ${requestIndex}`;
    throw new KilnError('KILN_HANDLER_INPUT_INVALID', `${which} is not an image kiln can decode: ${describeError(error)}`, {
      cause: error,
      details: { bytes: bytes.length, ...(requestIndex === undefined ? {} : { requestIndex }) },
    });
  }
}

/** Keeps the first three bands of sharp's raw output (it may add or keep extra ones). */
export function toRgb(data: Uint8Array, width: number, height: number, channels: number): RgbImage {
  if (channels === 3) return { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  const out = new Uint8Array(width * height * 3);
  for (let pixel = 0; pixel < width * height; pixel++) {
    for (let band = 0; band < 3; band++) out[pixel * 3 + band] = data[pixel * channels + Math.min(band, channels - 1)]!;
  }
  return { width, height, data: out };
}

async function resizeRaw(image: RgbImage, width: number, height: number): Promise<Buffer> {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(width, height, { fit: 'fill', kernel: 'cubic' })
    .raw()
    .toBuffer();
}

/** Turns image bytes into a normalized float tensor of shape [C,H,W] or [H,W,C]. */
export async function imageToTensor(bytes: Uint8Array, transform: ImageTransform, requestIndex = 0): Promise<Float32Array> {
  const decoded = await decodeImage(bytes, requestIndex);
  const [height, width] = transform.size;
  let pixels: Buffer;
  let usedWidth = width;
  if (transform.fit === 'stretch') {
    pixels = await resizeRaw(decoded, width, height);
  } else if (transform.fit === 'pad') {
    usedWidth = Math.max(1, Math.min(width, Math.ceil((height * decoded.width) / decoded.height)));
    pixels = await resizeRaw(decoded, usedWidth, height);
  } else {
    // Shorter side to `resize` (or to the crop size), then the centre crop.
    const shorter = transform.resize ?? Math.max(height, width);
    const scale = shorter / Math.min(decoded.width, decoded.height);
    const scaledWidth = Math.max(width, Math.round(decoded.width * scale));
    const scaledHeight = Math.max(height, Math.round(decoded.height * scale));
    const scaled = await resizeRaw(decoded, scaledWidth, scaledHeight);
    pixels = await sharp(scaled, { raw: { width: scaledWidth, height: scaledHeight, channels: 3 } })
      .extract({ left: Math.floor((scaledWidth - width) / 2), top: Math.floor((scaledHeight - height) / 2), width, height })
      .raw()
      .toBuffer();
  }
  return normalize(pixels, usedWidth, height, width, transform);
}

/**
 * (pixel / 255 − mean) / std per channel, written as one multiply-add with the constants hoisted
 * out of the loop: this runs once per pixel and channel, for every request.
 */
function normalize(pixels: Buffer, usedWidth: number, height: number, width: number, transform: ImageTransform): Float32Array {
  const out = new Float32Array(3 * height * width);
  const order = transform.channelOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0];
  const plane = height * width;
  for (let c = 0; c < 3; c++) {
    const channel = order[c]!;
    const scale = 1 / (255 * transform.std[channel]!);
    const offset = -transform.mean[channel]! / transform.std[channel]!;
    for (let y = 0; y < height; y++) {
      let source = y * usedWidth * 3 + channel;
      if (transform.layout === 'NCHW') {
        let target = c * plane + y * width;
        for (let x = 0; x < usedWidth; x++, source += 3) out[target++] = pixels[source]! * scale + offset;
      } else {
        let target = y * width * 3 + c;
        for (let x = 0; x < usedWidth; x++, source += 3, target += 3) out[target] = pixels[source]! * scale + offset;
      }
    }
  }
  return out;
}

/** Request bytes from TorchServe's `data` or `body` field; a string is base64. */
export function requestBytes(input: Readonly<Record<string, unknown>>, requestIndex: number): Uint8Array {
  const value = input['data'] ?? input['body'];
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return Buffer.from(value, 'base64');
  throw new KilnError('KILN_HANDLER_INPUT_INVALID', `request ${requestIndex}: expected image bytes in 'data' or 'body'`, {
    details: { requestIndex },
  });
}
