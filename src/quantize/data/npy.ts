/**
 * Calibration from NumPy `.npy` files: either a folder of files, one sample each, for a model
 * with one input; or a folder with one subfolder per input name, each holding equally many files
 * paired by sorted position. Files are read lazily, one sample at a time.
 *
 * The reader takes format versions 1, 2 and 3, C order, little-endian float32, float64 (narrowed
 * to float32, the type kiln calibrates), int64, int32 and uint8. Fortran order, big-endian and
 * object arrays are refused by name rather than misread.
 */
import { readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { KilnError } from '../../core/errors.js';
import { readFileChecked } from '../../core/fs.js';
import type { HostTensor } from '../../runtime/tensors.js';
import type { CalibrationSource, Feeds } from './types.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** NumPy `descr` → kiln tensor type and element size. `|u1` and `<u1` are the same. */
const DTYPES: Readonly<Record<string, { type: 'float32' | 'float64' | 'int64' | 'int32' | 'uint8'; size: number }>> = {
  '<f4': { type: 'float32', size: 4 },
  '<f8': { type: 'float64', size: 8 },
  '<i8': { type: 'int64', size: 8 },
  '<i4': { type: 'int32', size: 4 },
  '|u1': { type: 'uint8', size: 1 },
  '<u1': { type: 'uint8', size: 1 },
};

function invalid(file: string, message: string): KilnError {
  return new KilnError('KILN_QUANTIZE_CALIBRATION_INVALID', `${file}: ${message}`, { details: { file } });
}

/** Reads the header dict (a Python literal) that NumPy writes: descr, fortran_order and shape. */
function parseHeader(header: string, file: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shape === undefined) {
    if (/'descr'\s*:\s*\[/.test(header)) throw invalid(file, 'holds a structured array (record dtype), which kiln cannot use');
    throw invalid(file, `has an .npy header kiln cannot read: ${header.trim().slice(0, 120)}`);
  }
  const dims = shape
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => (/^\d+L?$/.test(part) ? Number.parseInt(part, 10) : NaN));
  if (dims.some((dim) => !Number.isSafeInteger(dim))) throw invalid(file, `has an .npy shape kiln cannot read: (${shape})`);
  return { descr, fortran: fortran === 'True', shape: dims };
}

function dtypeError(file: string, descr: string): KilnError {
  if (descr.includes('O')) return invalid(file, 'holds a NumPy object array (pickled Python objects), which kiln does not read');
  if (descr.startsWith('>')) return invalid(file, `is big-endian (${descr}); save it little-endian, e.g. with arr.astype('<${descr.slice(1)}')`);
  return invalid(file, `has dtype '${descr}'; kiln reads float32, float64, int64, int32 and uint8 .npy files`);
}

/**
 * Parses `.npy` bytes into a host tensor (float64 narrowed to float32); `file` names it in errors.
 * @throws KilnError `KILN_QUANTIZE_CALIBRATION_INVALID` for anything kiln cannot read exactly.
 */
export function parseNpy(bytes: Uint8Array, file: string): HostTensor {
  if (bytes.length < 10 || MAGIC.some((byte, index) => bytes[index] !== byte)) throw invalid(file, 'is not a NumPy .npy file (bad magic bytes)');
  const major = bytes[6]!;
  if (major < 1 || major > 3) throw invalid(file, `uses .npy format version ${major}.${bytes[7]}, which kiln does not know (1, 2 and 3 are read)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerStart = major === 1 ? 10 : 12;
  if (bytes.length < headerStart) throw invalid(file, 'is truncated inside its header');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = headerStart + headerLength;
  if (bytes.length < dataStart) throw invalid(file, 'is truncated inside its header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, dataStart));
  const { descr, fortran, shape } = parseHeader(header, file);
  const dtype = DTYPES[descr];
  if (!dtype) throw dtypeError(file, descr);
  if (fortran) {
    throw invalid(file, 'is stored in Fortran order; save it in C order (np.ascontiguousarray) first');
  }
  const count = shape.reduce((product, dim) => product * dim, 1);
  const expected = count * dtype.size;
  if (bytes.length - dataStart !== expected) {
    throw invalid(file, `holds ${bytes.length - dataStart} data bytes, but shape (${shape.join(', ')}) of ${descr} needs ${expected}`);
  }
  // A copy (Buffer's slice would be a view): the data is rarely aligned inside the file buffer.
  const buffer = new Uint8Array(bytes.subarray(dataStart, dataStart + expected)).buffer;
  switch (dtype.type) {
    case 'float32':
      return { type: 'float32', dims: shape, data: new Float32Array(buffer) };
    case 'float64':
      return { type: 'float32', dims: shape, data: Float32Array.from(new Float64Array(buffer)) };
    case 'int64':
      return { type: 'int64', dims: shape, data: new BigInt64Array(buffer) };
    case 'int32':
      return { type: 'int32', dims: shape, data: new Int32Array(buffer) };
    case 'uint8':
      return { type: 'uint8', dims: shape, data: new Uint8Array(buffer) };
  }
}

/** Reads one `.npy` file. */
export function readNpy(file: string): HostTensor {
  return parseNpy(readFileChecked(file, 'the .npy file'), file);
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The `.npy` files of a folder, sorted by name. */
export function listNpy(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true })
    .filter((entry) => entry.isFile() && !entry.name.startsWith('.') && extname(entry.name).toLowerCase() === '.npy')
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
      .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
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
