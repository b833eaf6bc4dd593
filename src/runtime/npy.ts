/**
 * NumPy `.npy` bytes → a host tensor. A pure codec with no I/O, shared by whoever receives
 * `.npy` data: calibration files (quantize) and request bodies (the `tensor` handler).
 *
 * Format versions 1, 2 and 3 are read, C order, little-endian float32, float64, int64, int32 and
 * uint8. Fortran order, big-endian and object arrays are refused by name rather than misread.
 */
import { KilnError, type ErrorCode } from '../core/errors.js';
import type { HostTensor } from './tensors.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** The media type kiln reads as `.npy` bytes (no type is registered; this one is common use). */
export const NPY_MEDIA_TYPE = 'application/x-npy';

/** NumPy `descr` → kiln tensor type and element size. `|u1` and `<u1` are the same. */
const DTYPES: Readonly<Record<string, { type: 'float32' | 'float64' | 'int64' | 'int32' | 'uint8'; size: number }>> = {
  '<f4': { type: 'float32', size: 4 },
  '<f8': { type: 'float64', size: 8 },
  '<i8': { type: 'int64', size: 8 },
  '<i4': { type: 'int32', size: 4 },
  '|u1': { type: 'uint8', size: 1 },
  '<u1': { type: 'uint8', size: 1 },
};

/** Options of {@link parseNpy}. */
export interface NpyParseOptions {
  /** Names the bytes at the start of every error message: a file path, `request 2`. */
  readonly name: string;
  /** Code of the errors thrown, so each caller reports in its own area. @defaultValue `'KILN_CORE_INVALID_ARGUMENT'` */
  readonly code?: ErrorCode;
  /** Added to every error's details (the file, the request index). @defaultValue none */
  readonly details?: Readonly<Record<string, unknown>>;
  /**
   * Return a view over `bytes` instead of a copy when the data is aligned for its type (NumPy pads
   * the header to 64 bytes, so it is whenever `bytes` starts aligned). Only for callers that own
   * the bytes and leave them unchanged, such as a request body. @defaultValue false (a copy)
   */
  readonly view?: boolean;
}

/** True when the bytes start with the `.npy` magic (`\x93NUMPY`). */
export function isNpy(bytes: Uint8Array): boolean {
  return bytes.length >= MAGIC.length && MAGIC.every((byte, index) => bytes[index] === byte);
}

/**
 * Parses `.npy` bytes into a host tensor of the array's own type (float64 stays float64). The
 * data is copied unless `options.view` (a file read into a pooled Buffer is rarely aligned, and a
 * view would keep the whole buffer alive).
 * @throws KilnError with `options.code` for anything kiln cannot read exactly, saying why.
 * @example parseNpy(readFileSync('x.npy'), { name: 'x.npy' }) // { type: 'float32', dims: [1, 3], data }
 */
export function parseNpy(bytes: Uint8Array, options: NpyParseOptions): HostTensor {
  const invalid = (message: string) =>
    new KilnError(options.code ?? 'KILN_CORE_INVALID_ARGUMENT', `${options.name}: ${message}`, { details: { ...options.details } });
  if (bytes.length < 10 || !isNpy(bytes)) throw invalid('is not a NumPy .npy file (bad magic bytes)');
  const major = bytes[6]!;
  if (major < 1 || major > 3) throw invalid(`uses .npy format version ${major}.${bytes[7]}, which kiln does not know (1, 2 and 3 are read)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerStart = major === 1 ? 10 : 12;
  if (bytes.length < headerStart) throw invalid('is truncated inside its header');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = headerStart + headerLength;
  if (bytes.length < dataStart) throw invalid('is truncated inside its header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, dataStart));
  const { descr, fortran, shape } = parseHeader(header, invalid);
  const dtype = DTYPES[descr];
  if (!dtype) throw invalid(dtypeProblem(descr));
  if (fortran) throw invalid('is stored in Fortran order; save it in C order (np.ascontiguousarray) first');
  const count = shape.reduce((product, dim) => product * dim, 1);
  const expected = count * dtype.size;
  if (bytes.length - dataStart !== expected) {
    throw invalid(`holds ${bytes.length - dataStart} data bytes, but shape (${shape.join(', ')}) of ${descr} needs ${expected}`);
  }
  const aligned = options.view === true && (bytes.byteOffset + dataStart) % dtype.size === 0;
  const buffer = aligned ? bytes.buffer : new Uint8Array(bytes.subarray(dataStart, dataStart + expected)).buffer;
  const offset = aligned ? bytes.byteOffset + dataStart : 0;
  switch (dtype.type) {
    case 'float32':
      return { type: 'float32', dims: shape, data: new Float32Array(buffer, offset, count) };
    case 'float64':
      return { type: 'float64', dims: shape, data: new Float64Array(buffer, offset, count) };
    case 'int64':
      return { type: 'int64', dims: shape, data: new BigInt64Array(buffer, offset, count) };
    case 'int32':
      return { type: 'int32', dims: shape, data: new Int32Array(buffer, offset, count) };
    case 'uint8':
      return { type: 'uint8', dims: shape, data: new Uint8Array(buffer, offset, count) };
  }
}

/** Reads the header dict (a Python literal) that NumPy writes: descr, fortran_order and shape. */
function parseHeader(header: string, invalid: (message: string) => KilnError): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shape === undefined) {
    if (/'descr'\s*:\s*\[/.test(header)) throw invalid('holds a structured array (record dtype), which kiln cannot use');
    throw invalid(`has an .npy header kiln cannot read: ${header.trim().slice(0, 120)}`);
  }
  const dims = shape
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => (/^\d+L?$/.test(part) ? Number.parseInt(part, 10) : NaN));
  if (dims.some((dim) => !Number.isSafeInteger(dim))) throw invalid(`has an .npy shape kiln cannot read: (${shape})`);
  return { descr, fortran: fortran === 'True', shape: dims };
}

function dtypeProblem(descr: string): string {
  if (descr.includes('O')) return 'holds a NumPy object array (pickled Python objects), which kiln does not read';
  if (descr.startsWith('>')) return `is big-endian (${descr}); save it little-endian, e.g. with arr.astype('<${descr.slice(1)}')`;
  return `has dtype '${descr}'; kiln reads float32, float64, int64, int32 and uint8 .npy files`;
}
