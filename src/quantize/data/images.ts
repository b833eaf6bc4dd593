/**
 * Calibration from a folder of images: each file (png, jpg, jpeg, webp; sorted by name) is read
 * and turned into one float32 tensor for a named input by the image module's `prepareImage`,
 * the very function the built-in handlers serve with, so calibration sees the served tensors.
 * Symbolic links are followed (entries.ts); a link to a folder is skipped like a real subfolder.
 */
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { KilnError, describeError, isKilnError } from '../../core/errors.js';
import { prepareImage, type ImagePreprocess } from '../../image/index.js';
import type { HostTensor } from '../../runtime/tensors.js';
import { resolvedKind } from './entries.js';
import type { CalibrationSource, Feeds } from './types.js';

/** File extensions read as images (lower case). */
export const IMAGE_EXTENSIONS: readonly string[] = Object.freeze(['.png', '.jpg', '.jpeg', '.webp']);

/** True for a file name with an image extension ({@link IMAGE_EXTENSIONS}, any case). */
export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
}

function invalid(message: string, details: Record<string, unknown>, cause?: unknown): KilnError {
  return new KilnError('KILN_QUANTIZE_CALIBRATION_INVALID', message, { details, ...(cause === undefined ? {} : { cause }) });
}

/**
 * Turns encoded image bytes into a `[1, C, H, W]` (or `[1, H, W, C]`) float32 tensor.
 * @throws KilnError `KILN_QUANTIZE_CALIBRATION_INVALID` naming `file` when they do not decode.
 */
export async function imageBytesTensor(bytes: Uint8Array, preprocess: ImagePreprocess, file: string): Promise<HostTensor> {
  try {
    const { dims, data } = await prepareImage(bytes, preprocess);
    return { type: 'float32', dims: [...dims], data };
  } catch (error) {
    if (!isKilnError(error, 'KILN_IMAGE_DECODE_FAILED')) throw error;
    throw invalid(`${file}: ${error.message}`, { file }, error);
  }
}

/**
 * Reads and preprocesses one image file.
 * @throws KilnError `KILN_QUANTIZE_CALIBRATION_INVALID` when the file is not a decodable image.
 */
export async function imageTensor(file: string, preprocess: ImagePreprocess): Promise<HostTensor> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw invalid(`${file}: cannot read it (${describeError(error)})`, { file }, error);
  }
  return imageBytesTensor(bytes, preprocess, file);
}

/** Options of {@link imageFolderSource}. */
export interface ImageSourceOptions {
  /** The model input the images feed. */
  readonly input: string;
  readonly preprocess: ImagePreprocess;
  /** Use at most this many images (the first by name). @defaultValue all */
  readonly limit?: number;
  /** Images decoded ahead of the one yielded. @defaultValue {@link IMAGE_SOURCE_DEFAULTS}.readAhead */
  readonly readAhead?: number;
}

/**
 * Defaults of {@link imageFolderSource}: `readAhead` 16 images in flight (a calibration batch's
 * worth; at 224² each is 0.6 MB of float32).
 */
export const IMAGE_SOURCE_DEFAULTS = Object.freeze({ readAhead: 16 });

/**
 * The image files of a folder, sorted by name (code-unit order, the same on every machine).
 * Symbolic links are followed (see the module comment).
 * @throws KilnError `KILN_QUANTIZE_CALIBRATION_INVALID` for a broken or looping link with an image name.
 */
export function listImages(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true })
    .filter((entry) => {
      if (entry.name.startsWith('.') || !isImageFile(entry.name)) return false;
      return resolvedKind(folder, entry) === 'file';
    })
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
    throw invalid(`${folder}: no images (${IMAGE_EXTENSIONS.join(', ')})`, { folder });
  }
  return {
    description: `${files.length} image${files.length === 1 ? '' : 's'} in ${folder}`,
    count: files.length,
    async *samples(): AsyncGenerator<Feeds> {
      // Decoding runs on libuv's threads (sharp) while the consumer runs inference on the main
      // thread, so keep a few images in flight ahead of the one being yielded.
      const ahead = options.readAhead ?? IMAGE_SOURCE_DEFAULTS.readAhead;
      const inFlight: Promise<HostTensor>[] = [];
      let next = 0;
      const refill = (): void => {
        while (inFlight.length < ahead && next < files.length) {
          const tensor = imageTensor(join(folder, files[next++]!), options.preprocess);
          // Awaited in order below; this only keeps a failure that is not reached yet (the
          // consumer stopped early) from counting as an unhandled rejection.
          tensor.catch(() => undefined);
          inFlight.push(tensor);
        }
      };
      refill();
      while (inFlight.length > 0) {
        const tensor = await inFlight.shift()!;
        refill();
        yield { [options.input]: tensor };
      }
    },
  };
}
