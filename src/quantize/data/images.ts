/**
 * Calibration from a folder of images: each file (png, jpg, jpeg, webp; sorted by name) is
 * decoded with sharp and turned into one float32 tensor for a named input, following an
 * {@link ImagePreprocess}. Steps are materialized as raw buffers between sharp calls, because
 * sharp applies its operations in a fixed order (resize before extend) whatever the call order.
 */
import { readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import sharp from 'sharp';
import { KilnError, describeError } from '../../core/errors.js';
import type { HostTensor } from '../../runtime/tensors.js';
import { planResize, type ImagePreprocess, type ResizePlan } from './image-preprocess.js';
import type { CalibrationSource, Feeds } from './types.js';

/** File extensions read as images (lower case). */
export const IMAGE_EXTENSIONS: readonly string[] = Object.freeze(['.png', '.jpg', '.jpeg', '.webp']);

/** Larger images are refused before decoding (a decompression-bomb guard). */
const MAX_INPUT_PIXELS = 100_000_000;

/** 8-bit RGB pixels, row-major, 3 bytes per pixel. */
interface RgbPixels {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** True for a file name with an image extension ({@link IMAGE_EXTENSIONS}, any case). */
export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
}

/**
 * Decodes an image file to RGB. EXIF orientation is applied; alpha is dropped and grey is
 * widened to three channels, as PIL's `convert('RGB')` and OpenCV's `imread` do. Truncated or
 * corrupt files are refused rather than read in part.
 */
async function decodeRgb(file: string): Promise<RgbPixels> {
  try {
    const { data, info } = await sharp(file, { failOn: 'error', limitInputPixels: MAX_INPUT_PIXELS })
      .rotate()
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels === 3) return { data, width: info.width, height: info.height };
    const rgb = new Uint8Array(info.width * info.height * 3);
    for (let pixel = 0; pixel < info.width * info.height; pixel++) {
      for (let band = 0; band < 3; band++) rgb[pixel * 3 + band] = data[pixel * info.channels + Math.min(band, info.channels - 1)]!;
    }
    return { data: rgb, width: info.width, height: info.height };
  } catch (error) {
    throw new KilnError('KILN_QUANTIZE_CALIBRATION_INVALID', `${file}: not an image kiln can decode (${describeError(error)})`, {
      cause: error,
      details: { file },
    });
  }
}

/** Bilinear resize of raw RGB (skipped when the size is unchanged). */
async function resizeRgb(image: RgbPixels, width: number, height: number): Promise<RgbPixels> {
  if (width === image.width && height === image.height) return image;
  const data = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(width, height, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer();
  return { data, width, height };
}

/** Copies the plan's window into a normalized float tensor, padding the rest with `padValue`. */
function normalize(image: RgbPixels, plan: ResizePlan, preprocess: ImagePreprocess): HostTensor {
  const { outWidth, outHeight } = plan;
  const out = new Float32Array(3 * outWidth * outHeight).fill(preprocess.padValue);
  const plane = outWidth * outHeight;
  const nchw = preprocess.layout === 'nchw';
  for (let channel = 0; channel < 3; channel++) {
    const source = preprocess.channelOrder === 'rgb' ? channel : 2 - channel;
    // (p · scale − mean) / std as one multiply-add per value, constants hoisted.
    const gain = preprocess.scale / preprocess.std[channel]!;
    const offset = -preprocess.mean[channel]! / preprocess.std[channel]!;
    for (let y = 0; y < plan.height; y++) {
      let from = ((plan.top + y) * image.width + plan.left) * 3 + source;
      let to = nchw ? channel * plane + y * outWidth : y * outWidth * 3 + channel;
      const stride = nchw ? 1 : 3;
      for (let x = 0; x < plan.width; x++, from += 3, to += stride) out[to] = image.data[from]! * gain + offset;
    }
  }
  const dims = nchw ? [1, 3, outHeight, outWidth] : [1, outHeight, outWidth, 3];
  return { type: 'float32', dims, data: out };
}

/**
 * Decodes and preprocesses one image file into a `[1, 3, H, W]` (or `[1, H, W, 3]`) float32 tensor.
 * @throws KilnError `KILN_QUANTIZE_CALIBRATION_INVALID` when the file is not a decodable image.
 */
export async function imageTensor(file: string, preprocess: ImagePreprocess): Promise<HostTensor> {
  const decoded = await decodeRgb(file);
  const plan = planResize(preprocess.resize, decoded.width, decoded.height);
  const resized = await resizeRgb(decoded, plan.resizeWidth, plan.resizeHeight);
  return normalize(resized, plan, preprocess);
}

/** Options of {@link imageFolderSource}. */
export interface ImageSourceOptions {
  /** The model input the images feed. */
  readonly input: string;
  readonly preprocess: ImagePreprocess;
  /** Use at most this many images (the first by name). @defaultValue all */
  readonly limit?: number;
}

/** The image files of a folder, sorted by name (code-unit order, the same on every machine). */
export function listImages(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true })
    .filter((entry) => entry.isFile() && !entry.name.startsWith('.') && isImageFile(entry.name))
    .map((entry) => entry.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * A calibration source over the images of a folder, one sample per image, decoded lazily.
 * @throws KilnError `KILN_QUANTIZE_CALIBRATION_INVALID` when the folder holds no image.
 */
export function imageFolderSource(folder: string, options: ImageSourceOptions): CalibrationSource {
  const files = listImages(folder).slice(0, options.limit);
  if (files.length === 0) {
    throw new KilnError('KILN_QUANTIZE_CALIBRATION_INVALID', `${folder}: no images (${IMAGE_EXTENSIONS.join(', ')})`, { details: { folder } });
  }
  return {
    description: `${files.length} image${files.length === 1 ? '' : 's'} in ${folder}`,
    count: files.length,
    async *samples(): AsyncGenerator<Feeds> {
      for (const name of files) yield { [options.input]: await imageTensor(join(folder, name), options.preprocess) };
    },
  };
}
