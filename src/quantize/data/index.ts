/**
 * Calibration data: open a source by what a path is, and check each sample against the model's
 * inputs before it is run, so a wrong folder fails with one clear line instead of an ORT error.
 */
import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { KilnError } from '../../core/errors.js';
import { readError } from '../../core/fs.js';
import type { TensorSignature } from '../../runtime/feeds.js';
import type { ImagePreprocess } from '../../image/index.js';
import { IMAGE_EXTENSIONS, imageFolderSource, listImages } from './images.js';
import { moduleSource } from './module.js';
import { listNpy, npyFolderSource } from './npy.js';
import type { CalibrationSource, Feeds } from './types.js';

export type { CalibrationSource, Feeds } from './types.js';
// The image descriptions live in src/image; re-exported because the public API has always
// offered them beside the calibration sources.
export {
  IMAGE_PREPROCESS_DEFAULTS,
  IMAGE_PRESETS,
  parseImagePreprocess,
  planResize,
  resolveImagePreprocess,
  type ImagePreprocess,
  type ImagePreprocessOptions,
  type ImageResize,
} from '../../image/index.js';
export { IMAGE_EXTENSIONS, imageBytesTensor, imageFolderSource, imageTensor } from './images.js';
export { npyFolderSource, parseNpy, readNpy } from './npy.js';
export { moduleSource, toFeeds } from './module.js';

/** File extensions loaded as calibration modules. */
export const MODULE_EXTENSIONS: readonly string[] = Object.freeze(['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts']);

/** Options of {@link openCalibrationSource}. */
export interface CalibrationSourceOptions {
  /** The model input that a folder of images, or a flat folder of `.npy` files, feeds. */
  readonly input?: string;
  /** How images become tensors; needed for a folder of images. */
  readonly preprocess?: ImagePreprocess;
  /** Use at most this many samples (the first in order). @defaultValue all */
  readonly limit?: number;
}

function invalid(message: string, details: Record<string, unknown>): KilnError {
  return new KilnError('KILN_QUANTIZE_CALIBRATION_INVALID', message, { details });
}

const KINDS = `a folder of images (${IMAGE_EXTENSIONS.join(', ')}), a folder of .npy files (or of one .npy subfolder per input), or a module (${MODULE_EXTENSIONS.join(', ')})`;

/**
 * Opens calibration data by what `path` is: a folder of images, a folder of `.npy` files or of
 * per-input subfolders of them, or a JS/TS module.
 * @throws KilnError `KILN_IO_NOT_FOUND` for a missing path; `KILN_QUANTIZE_CALIBRATION_INVALID`
 *   for an empty folder, a kind kiln does not know, or a missing `input`/`preprocess` option.
 * @example openCalibrationSource('calib/', { input: 'x', preprocess: parseImagePreprocess('resize=stretch:224x224'), limit: 256 })
 */
export function openCalibrationSource(path: string, options: CalibrationSourceOptions = {}): CalibrationSource {
  if (options.limit !== undefined && !(Number.isSafeInteger(options.limit) && options.limit > 0)) {
    throw new KilnError('KILN_CORE_INVALID_ARGUMENT', `the calibration sample limit must be a positive integer, not ${options.limit}`);
  }
  let stat;
  try {
    stat = statSync(path);
  } catch (error) {
    throw readError(path, 'the calibration data', error);
  }
  if (stat.isFile()) {
    if (MODULE_EXTENSIONS.includes(extname(path).toLowerCase())) return moduleSource(path, options);
    throw invalid(`${path}: kiln cannot calibrate from this file; give ${KINDS}`, { path });
  }
  if (!stat.isDirectory()) throw invalid(`${path}: neither a file nor a folder; give ${KINDS}`, { path });
  const entries = readdirSync(path).filter((name) => !name.startsWith('.'));
  if (entries.length === 0) throw invalid(`${path}: the calibration folder is empty; give ${KINDS}`, { path });
  const images = listImages(path);
  const npy = listNpy(path);
  if (images.length > 0 && npy.length > 0) {
    throw invalid(`${path}: holds both images (${images.length}) and .npy files (${npy.length}); keep one kind per folder`, { path });
  }
  if (images.length > 0) {
    if (!options.input || !options.preprocess) {
      throw invalid(`${path}: a folder of images needs ${options.input ? 'a preprocessing description' : 'the name of the input it feeds'}`, { path });
    }
    return imageFolderSource(path, { input: options.input, preprocess: options.preprocess, limit: options.limit });
  }
  // statSync follows links; a broken link that is neither an image nor a .npy file is not data.
  const isFolder = (name: string): boolean => {
    try {
      return statSync(join(path, name)).isDirectory();
    } catch {
      return false;
    }
  };
  const hasInputFolders = entries.some((name) => isFolder(name) && listNpy(join(path, name)).length > 0);
  if (npy.length > 0 || hasInputFolders) return npyFolderSource(path, options);
  throw invalid(`${path}: holds none of ${KINDS}`, { path });
}

function shapeText(shape: readonly (number | string | undefined)[]): string {
  return `[${shape.map((dim) => (dim === undefined || (typeof dim === 'number' && dim < 0) ? '?' : dim)).join(', ')}]`;
}

/**
 * Checks one sample against the model's inputs: every input present and no other, the same
 * element type and rank, and each fixed dimension equal. Symbolic dims take any size.
 * @throws KilnError `KILN_QUANTIZE_CALIBRATION_INVALID` with one precise message, e.g.
 *   "calibration sample 3: input 'x' has 4 dims, the model wants 3 ([batch, 3, 224])".
 */
export function checkSampleAgainst(signature: readonly TensorSignature[], feeds: Feeds, index: number): void {
  const sample = `calibration sample ${index}`;
  const names = signature.map((input) => `'${input.name}'`).join(', ');
  const wanted = new Set(signature.map((input) => input.name));
  for (const name of Object.keys(feeds)) {
    if (!wanted.has(name)) throw invalid(`${sample}: '${name}' is not an input of the model (its inputs: ${names})`, { index, input: name });
  }
  for (const input of signature) {
    const tensor = feeds[input.name];
    const details = { index, input: input.name };
    if (!tensor) throw invalid(`${sample}: input '${input.name}' is missing (the model's inputs: ${names})`, details);
    if (tensor.type !== input.type) throw invalid(`${sample}: input '${input.name}' is ${tensor.type}, the model wants ${input.type}`, details);
    if (tensor.dims.length !== input.shape.length) {
      throw invalid(
        `${sample}: input '${input.name}' has ${tensor.dims.length} dims, the model wants ${input.shape.length} (${shapeText(input.shape)})`,
        details,
      );
    }
    input.shape.forEach((dim, axis) => {
      if (typeof dim === 'number' && dim >= 0 && tensor.dims[axis] !== dim) {
        throw invalid(
          `${sample}: input '${input.name}' has size ${tensor.dims[axis]} on axis ${axis}, the model wants ${dim} (sample [${tensor.dims.join(', ')}], model ${shapeText(input.shape)})`,
          { ...details, axis },
        );
      }
    });
  }
}
