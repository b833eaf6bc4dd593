/**
 * Calibration from NumPy `.npy` files: either a folder of files, one sample each, for a model
 * with one input; or a folder with one subfolder per input name, each holding equally many files
 * paired by sorted position. Files are read lazily, one sample at a time.
 *
 * The bytes are parsed by `runtime/npy.ts` (versions 1 to 3, C order, little-endian float32,
 * float64, int64, int32, uint8); float64 is narrowed to float32, the type kiln calibrates.
 */
import { readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { KilnError } from '../../core/errors.js';
import { readFileChecked } from '../../core/fs.js';
import { parseNpy as parseNpyBytes } from '../../runtime/npy.js';
import type { HostTensor } from '../../runtime/tensors.js';
import { resolvedKind } from './entries.js';
import type { CalibrationSource, Feeds } from './types.js';

function invalid(file: string, message: string): KilnError {
  return new KilnError('KILN_QUANTIZE_CALIBRATION_INVALID', `${file}: ${message}`, { details: { file } });
}

/**
 * Parses `.npy` bytes (see `runtime/npy.ts`) into a calibration tensor: float64 is narrowed to
 * float32, the type kiln calibrates; `file` names it in errors.
 * @throws KilnError `KILN_QUANTIZE_CALIBRATION_INVALID` for anything kiln cannot read exactly.
 */
export function parseNpy(bytes: Uint8Array, file: string): HostTensor {
  const tensor = parseNpyBytes(bytes, { name: file, code: 'KILN_QUANTIZE_CALIBRATION_INVALID', details: { file } });
  return tensor.type === 'float64' ? { type: 'float32', dims: tensor.dims, data: Float32Array.from(tensor.data as Float64Array) } : tensor;
}

/** Reads one `.npy` file. */
export function readNpy(file: string): HostTensor {
  return parseNpy(readFileChecked(file, 'the .npy file'), file);
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The `.npy` files of a folder, sorted by name; symbolic links followed (entries.ts). */
export function listNpy(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true })
    .filter((entry) => !entry.name.startsWith('.') && extname(entry.name).toLowerCase() === '.npy' && resolvedKind(folder, entry) === 'file')
    .map((entry) => entry.name)
    .sort(byName);
}

/** Options of {@link npyFolderSource}. */
export interface NpySourceOptions {
  /** The input a flat folder of files feeds (required for that layout). */
  readonly input?: string;
  /** Use at most this many samples. @defaultValue all */
  readonly limit?: number;
}

/**
 * A calibration source over `.npy` files: a flat folder (one input, named by `options.input`) or
 * one subfolder per input name.
 * @throws KilnError `KILN_QUANTIZE_CALIBRATION_INVALID` for an empty folder, a flat folder
 *   without `input`, or subfolders with unequal file counts.
 */
export function npyFolderSource(folder: string, options: NpySourceOptions = {}): CalibrationSource {
  const flat = listNpy(folder);
  let columns: { input: string; files: string[] }[];
  if (flat.length > 0) {
    if (!options.input) throw invalid(folder, 'holds .npy files for one input, but no input name was given');
    columns = [{ input: options.input, files: flat.map((name) => join(folder, name)) }];
  } else {
    const inputs = readdirSync(folder, { withFileTypes: true })
      .filter((entry) => !entry.name.startsWith('.') && resolvedKind(folder, entry) === 'folder')
      .map((entry) => entry.name)
      .sort(byName);
    columns = inputs.map((input) => ({ input, files: listNpy(join(folder, input)).map((name) => join(folder, input, name)) }));
    columns = columns.filter((column) => column.files.length > 0);
    if (columns.length === 0) throw invalid(folder, 'holds no .npy files, nor subfolders of them (one per model input)');
    const counts = new Set(columns.map((column) => column.files.length));
    if (counts.size > 1) {
      const listed = columns.map((column) => `${column.input}/ has ${column.files.length}`).join(', ');
      throw invalid(folder, `input folders hold different numbers of .npy files (${listed}); each sample needs one file per input`);
    }
  }
  const count = Math.min(columns[0]!.files.length, options.limit ?? Infinity);
  const layout = columns.length === 1 && flat.length > 0 ? '' : ` for ${columns.length} input${columns.length === 1 ? '' : 's'}`;
  return {
    description: `${count} .npy sample${count === 1 ? '' : 's'} in ${folder}${layout}`,
    count,
    async *samples(): AsyncGenerator<Feeds> {
      for (let index = 0; index < count; index++) {
        const feeds: Record<string, HostTensor> = {};
        for (const column of columns) feeds[column.input] = readNpy(column.files[index]!);
        yield feeds;
      }
    },
  };
}
