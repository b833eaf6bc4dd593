/**
 * Open Inference Protocol v2 datatypes and their element codecs: the mapping to kiln's host
 * tensor types (spec §5), JSON values to and from typed arrays, little-endian tensor bytes, and
 * IEEE half-precision conversion. The request and response codecs build on these; every value
 * that does not fit is a `KILN_OIP_REQUEST_INVALID` naming the tensor and the element.
 */
import { KilnError } from '../../core/errors.js';
import type { HostTensor, HostTensorType } from '../../runtime/tensors.js';

/** The datatypes OIP v2 defines (Triton's BF16 is left out: kiln cannot carry it). */
export type OipDatatype = 'BOOL' | 'UINT8' | 'UINT16' | 'UINT32' | 'UINT64' | 'INT8' | 'INT16' | 'INT32' | 'INT64' | 'FP16' | 'FP32' | 'FP64' | 'BYTES';

/** Host type and fixed element size of each datatype; BYTES has no fixed size. */
const TABLE: Readonly<Record<OipDatatype, { readonly host: HostTensorType; readonly bytes: number | undefined }>> = {
  BOOL: { host: 'bool', bytes: 1 },
  UINT8: { host: 'uint8', bytes: 1 },
  UINT16: { host: 'uint16', bytes: 2 },
  UINT32: { host: 'uint32', bytes: 4 },
  UINT64: { host: 'uint64', bytes: 8 },
  INT8: { host: 'int8', bytes: 1 },
  INT16: { host: 'int16', bytes: 2 },
  INT32: { host: 'int32', bytes: 4 },
  INT64: { host: 'int64', bytes: 8 },
  FP16: { host: 'float16', bytes: 2 },
  FP32: { host: 'float32', bytes: 4 },
  FP64: { host: 'float64', bytes: 8 },
  BYTES: { host: 'string', bytes: undefined },
};

const BY_HOST: ReadonlyMap<string, OipDatatype> = new Map(Object.entries(TABLE).map(([datatype, info]) => [info.host, datatype as OipDatatype]));

/**
 * The OIP datatype of a kiln/ONNX type name (`float32` → `FP32`), or undefined for the types OIP
 * cannot carry (bfloat16, complex, float8, int4…), so callers can say so instead of casting.
 */
export function oipDatatypeOf(type: string): OipDatatype | undefined {
  return BY_HOST.get(type);
}

/** The host tensor type that stores a datatype (`FP16` → `float16`, raw half bits). */
export function hostTypeOf(datatype: OipDatatype): HostTensorType {
  return TABLE[datatype].host;
}

/** True for one of the exact, case-sensitive OIP datatype names. */
export function isOipDatatype(value: unknown): value is OipDatatype {
  return typeof value === 'string' && Object.hasOwn(TABLE, value);
}

/** Bytes per element in the binary extension's layout; undefined for BYTES (length-prefixed). */
export function elementBytes(datatype: OipDatatype): number | undefined {
  return TABLE[datatype].bytes;
}

function invalid(message: string): KilnError {
  return new KilnError('KILN_OIP_REQUEST_INVALID', message);
}

/** Rounds half to even: the IEEE default, so a tie never biases results upward. */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const rest = x - floor;
  return rest > 0.5 || (rest === 0.5 && floor % 2 === 1) ? floor + 1 : floor;
}

/**
 * The IEEE half bits nearest to a number, ties to even; ±Infinity past the half range, 0x7e00
 * for NaN. Converts from the double directly: going through float32 would round twice.
 */
export function numberToHalf(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const a = Math.abs(value);
  // 65520 is halfway between the largest half (65504, odd mantissa) and 2^16, so it rounds up.
  if (a >= 65520) return sign | 0x7c00;
  // Subnormal range: the step is 2^-24 everywhere; 1024 steps land exactly on the smallest normal.
  if (a < 2 ** -14) return sign | roundHalfEven(a * 2 ** 24);
  let exponent = Math.floor(Math.log2(a));
  if (2 ** exponent > a) exponent--; // log2 may be off by one near powers of two
  if (2 ** (exponent + 1) <= a) exponent++;
  let mantissa = roundHalfEven((a / 2 ** exponent - 1) * 1024);
  if (mantissa === 1024) {
    mantissa = 0;
    exponent++;
  }
  return sign | ((exponent + 15) << 10) | mantissa;
}

/** The number that IEEE half bits stand for (exact: every half is a double). */
export function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

type NumericArray = Exclude<HostTensor['data'], string[]>;
type NumericArrayConstructor = { new (buffer: ArrayBuffer, offset: number, length: number): NumericArray; readonly BYTES_PER_ELEMENT: number };

const ARRAYS: Readonly<Record<Exclude<OipDatatype, 'BYTES'>, NumericArrayConstructor>> = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  UINT16: Uint16Array,
  UINT32: Uint32Array,
  UINT64: BigUint64Array,
  INT8: Int8Array,
  INT16: Int16Array,
  INT32: Int32Array,
  INT64: BigInt64Array,
  FP16: Uint16Array,
  FP32: Float32Array,
  FP64: Float64Array,
};

const INTEGER_RANGE: Readonly<Partial<Record<OipDatatype, readonly [number, number]>>> = {
  UINT8: [0, 0xff],
  UINT16: [0, 0xffff],
  UINT32: [0, 0xffffffff],
  // 64-bit integers arrive as JSON numbers: only safe integers are known to be what was sent.
  UINT64: [0, Number.MAX_SAFE_INTEGER],
  INT8: [-0x80, 0x7f],
  INT16: [-0x8000, 0x7fff],
  INT32: [-0x80000000, 0x7fffffff],
  INT64: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/** Why a JSON element cannot be a value of `datatype`, or undefined when it can. */
function elementProblem(datatype: OipDatatype, value: unknown): string | undefined {
  if (datatype === 'BOOL') return typeof value === 'boolean' ? undefined : 'is not a boolean';
  if (datatype === 'BYTES') return typeof value === 'string' ? undefined : 'is not a string';
  if (typeof value !== 'number') return 'is not a number';
  const range = INTEGER_RANGE[datatype];
  if (range) {
    if (!Number.isInteger(value)) return 'is not an integer';
    if (value < range[0] || value > range[1]) return `is out of range [${range[0]}, ${range[1]}]`;
    return undefined;
  }
  // A finite value that would become Infinity in the narrower type is out of range, not rounded.
  if (datatype === 'FP32' && !Number.isFinite(Math.fround(value))) return 'is out of range';
  if (datatype === 'FP16' && (numberToHalf(value) & 0x7fff) === 0x7c00) return 'is out of range';
  return undefined;
}

/**
 * Converts flat JSON elements into host storage for `datatype`, rejecting any element that does
 * not fit exactly (no silent casting or rounding of integers).
 * @param label names the tensor in messages, e.g. `input 'x'`.
 * @throws KilnError `KILN_OIP_REQUEST_INVALID` naming the element and the reason.
 */
export function dataFromJson(datatype: OipDatatype, values: readonly unknown[], label: string): HostTensor['data'] {
  values.forEach((value, index) => {
    const problem = elementProblem(datatype, value);
    if (problem) throw invalid(`${label}: element ${index} (${shown(value)}) ${problem} for ${datatype}`);
  });
  switch (datatype) {
    case 'BYTES':
      return values as string[];
    case 'BOOL':
      return Uint8Array.from(values, (value) => (value ? 1 : 0));
    case 'INT64':
      return BigInt64Array.from(values, (value) => BigInt(value as number));
    case 'UINT64':
      return BigUint64Array.from(values, (value) => BigInt(value as number));
    case 'FP16':
      return Uint16Array.from(values, (value) => numberToHalf(value as number));
    default: {
      const array = new ARRAYS[datatype](new ArrayBuffer(values.length * ARRAYS[datatype].BYTES_PER_ELEMENT), 0, values.length);
      (array as Float64Array).set(values as number[]);
      return array;
    }
  }
}

/**
 * Host storage as flat JSON elements. 64-bit integers become JSON numbers: values beyond ±2^53
 * lose precision there (binary output is exact). JSON has no NaN or Infinity, so such a float is
 * refused with a hint to ask for binary data rather than sent as something it is not.
 * @throws KilnError `KILN_OIP_REQUEST_INVALID` for a non-finite float.
 */
export function dataToJson(datatype: OipDatatype, data: HostTensor['data'], label: string): unknown[] {
  if (datatype === 'BYTES') return [...(data as string[])];
  if (datatype === 'BOOL') return Array.from(data as Uint8Array, (value) => value !== 0);
  const numbers = datatype === 'FP16' ? Array.from(data as Uint16Array, halfToNumber) : Array.from(data as ArrayLike<number | bigint>, Number);
  const bad = numbers.findIndex((value) => !Number.isFinite(value));
  if (bad >= 0) {
    throw invalid(`${label}: element ${bad} is ${numbers[bad]}, which JSON cannot carry; request this output with parameters.binary_data = true`);
  }
  return numbers;
}

/** Whether this host stores typed arrays little-endian (every platform Node supports today). */
const HOST_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

function swapInPlace(bytes: Uint8Array, size: number): void {
  for (let at = 0; at < bytes.length; at += size) bytes.subarray(at, at + size).reverse();
}

/**
 * Copies little-endian tensor bytes into a fresh, aligned typed array of the datatype's storage:
 * the body's own buffer may start at any offset, and a view into it would pin the whole body.
 * The caller has checked that the length is a multiple of the element size.
 */
export function dataFromBytes(datatype: Exclude<OipDatatype, 'BYTES'>, bytes: Uint8Array): NumericArray {
  const copy = new Uint8Array(bytes);
  const size = ARRAYS[datatype].BYTES_PER_ELEMENT;
  if (!HOST_LITTLE_ENDIAN && size > 1) swapInPlace(copy, size);
  return new ARRAYS[datatype](copy.buffer, 0, copy.length / size);
}

/** Numeric host storage as little-endian bytes (a copy). BOOL is already one byte, 0 or 1. */
export function dataToBytes(data: NumericArray): Uint8Array {
  const copy = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  if (!HOST_LITTLE_ENDIAN && data.BYTES_PER_ELEMENT > 1) swapInPlace(copy, data.BYTES_PER_ELEMENT);
  return copy;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Splits a BYTES tensor's binary form (per element: a 4-byte little-endian length, then the bytes)
 * into UTF-8 strings, the only form host string tensors hold. Bytes that are not UTF-8 are
 * refused rather than replaced, so no element reaches the model altered.
 * @throws KilnError `KILN_OIP_REQUEST_INVALID` when a length runs past the tensor or text is not UTF-8.
 */
export function stringsFromBytes(bytes: Uint8Array, label: string): string[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const strings: string[] = [];
  let at = 0;
  while (at < bytes.length) {
    const index = strings.length;
    if (at + 4 > bytes.length) throw invalid(`${label}: the length prefix of BYTES element ${index} runs past the tensor's ${bytes.length} bytes`);
    const length = view.getUint32(at, true);
    at += 4;
    if (at + length > bytes.length) throw invalid(`${label}: BYTES element ${index} (${length} bytes) runs past the tensor's ${bytes.length} bytes`);
    try {
      strings.push(UTF8.decode(bytes.subarray(at, at + length)));
    } catch (error) {
      throw new KilnError('KILN_OIP_REQUEST_INVALID', `${label}: BYTES element ${index} is not UTF-8 text`, { cause: error });
    }
    at += length;
  }
  return strings;
}

/** Strings in the BYTES binary layout: per element a 4-byte little-endian length, then its UTF-8. */
export function stringsToBytes(strings: readonly string[]): Uint8Array {
  const encoder = new TextEncoder();
  const encoded = strings.map((text) => encoder.encode(text));
  const out = new Uint8Array(encoded.reduce((total, part) => total + 4 + part.length, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const part of encoded) {
    view.setUint32(at, part.length, true);
    out.set(part, at + 4);
    at += 4 + part.length;
  }
  return out;
}
