import { create } from '@bufbuild/protobuf';
import { KilnError } from '../core/errors.js';
import {
  arrayConstructor,
  arrayLength,
  dtypeInfo,
  dtypeName,
  rawByteLength,
  type DTypeInfo,
  type TensorData,
} from './dtype.js';
import {
  TensorProto_DataLocation as DataLocation,
  TensorProtoSchema,
  type TensorProto,
} from './gen/onnx_pb.js';

/** A decoded tensor: element type, shape and values in a fresh typed array. */
export interface DecodedTensor {
  readonly name: string;
  readonly dataType: number;
  readonly dims: readonly number[];
  /**
   * Values in row-major order. 16-bit floats (float16, bfloat16) and float8 types are raw bits;
   * complex types interleave real and imaginary parts; 4-bit types stay packed two per byte,
   * low nibble first, as ONNX stores them.
   */
  readonly data: TensorData;
}

/** Number of elements of a shape (1 for a scalar). */
export function elementCount(dims: readonly (number | bigint)[]): number {
  let count = 1;
  for (const dim of dims) count *= Number(dim);
  return count;
}

/** True when the tensor's values live in an external file not yet loaded into `rawData`. */
export function isExternal(tensor: TensorProto): boolean {
  return tensor.dataLocation === DataLocation.EXTERNAL;
}

function requireInfo(tensor: TensorProto): DTypeInfo {
  const info = dtypeInfo(tensor.dataType);
  if (!info) {
    throw new KilnError(
      'KILN_ONNX_DTYPE_UNSUPPORTED',
      `tensor '${tensor.name}' has element type ${dtypeName(tensor.dataType)}, which ONNX does not define`,
      { details: { tensor: tensor.name, dataType: tensor.dataType } },
    );
  }
  return info;
}

/**
 * Decodes a TensorProto's values into a typed array, from `raw_data` or from the typed
 * field ONNX assigns to its element type. Always returns a fresh copy, so callers may
 * mutate it without touching the model.
 */
export function decodeTensor(tensor: TensorProto): DecodedTensor {
  const info = requireInfo(tensor);
  const dims = tensor.dims.map(Number);
  const count = elementCount(dims);
  if (isExternal(tensor)) {
    throw new KilnError(
      'KILN_ONNX_EXTERNAL_DATA_INVALID',
      `tensor '${tensor.name}' keeps its data in an external file that was not loaded`,
      { details: { tensor: tensor.name } },
    );
  }
  const data = info.array === 'string' ? decodeStrings(tensor) : decodeNumbers(tensor, info, count);
  const expected = info.array === 'string' ? count : arrayLength(info, count);
  if (data.length !== expected) {
    throw new KilnError(
      'KILN_ONNX_MODEL_INVALID',
      `tensor '${tensor.name}' has ${data.length} values for shape [${dims.join(', ')}] (expected ${expected})`,
      { details: { tensor: tensor.name } },
    );
  }
  return { name: tensor.name, dataType: tensor.dataType, dims, data };
}

function decodeStrings(tensor: TensorProto): string[] {
  const decoder = new TextDecoder();
  return tensor.stringData.map((bytes) => decoder.decode(bytes));
}

function decodeNumbers(tensor: TensorProto, info: DTypeInfo, count: number): TensorData {
  const Ctor = arrayConstructor(info);
  if (tensor.rawData.length > 0 || !hasTypedValues(tensor, info)) {
    const raw = tensor.rawData;
    if (raw.length !== rawByteLength(info, count)) {
      throw new KilnError(
        'KILN_ONNX_MODEL_INVALID',
        `tensor '${tensor.name}' has ${raw.length} raw bytes, expected ${rawByteLength(info, count)} for ${count} ${info.name} values`,
        { details: { tensor: tensor.name } },
      );
    }
    // A fresh, aligned copy: raw_data is a view into the file's bytes at any offset, and may be a
    // Node Buffer, whose slice() would share memory instead of copying.
    const copy = new Uint8Array(raw);
    return new Ctor(copy.buffer, 0, copy.byteLength / Ctor.BYTES_PER_ELEMENT);
  }
  const field = tensor[info.typedField];
  if (info.arrayPerElement === 0.5) {
    // ONNX stores packed 4-bit pairs one per int32 entry.
    return Uint8Array.from(field as number[]);
  }
  if (Ctor === BigInt64Array || Ctor === BigUint64Array) {
    return Ctor.from(field as bigint[]);
  }
  if (info.typedField === 'uint64Data') {
    return Uint32Array.from(field as bigint[], (value) => Number(value));
  }
  return (Ctor as Float32ArrayConstructor).from(field as number[]);
}

function hasTypedValues(tensor: TensorProto, info: DTypeInfo): boolean {
  return tensor[info.typedField].length > 0;
}

/** Values accepted by {@link encodeTensor}. */
export interface TensorInit {
  readonly name: string;
  readonly dataType: number;
  readonly dims: readonly number[];
  readonly data: TensorData;
}

/**
 * Builds a TensorProto holding `data`. Numbers go to `raw_data` (fixed width, little endian;
 * the form ORT reads fastest); strings go to `string_data`, the only form ONNX allows for them.
 */
export function encodeTensor(init: TensorInit): TensorProto {
  const info = dtypeInfo(init.dataType);
  if (!info) {
    throw new KilnError('KILN_ONNX_DTYPE_UNSUPPORTED', `cannot encode tensor '${init.name}' of ${dtypeName(init.dataType)}`);
  }
  const count = elementCount(init.dims);
  const expected = info.array === 'string' ? count : arrayLength(info, count);
  if (init.data.length !== expected) {
    throw new KilnError(
      'KILN_CORE_INVALID_ARGUMENT',
      `tensor '${init.name}': ${init.data.length} values do not fill shape [${init.dims.join(', ')}] (${expected} needed)`,
    );
  }
  const dims = init.dims.map((dim) => BigInt(dim));
  if (Array.isArray(init.data)) {
    const encoder = new TextEncoder();
    return create(TensorProtoSchema, {
      name: init.name,
      dataType: init.dataType,
      dims,
      stringData: init.data.map((text) => encoder.encode(text)),
    });
  }
  const view = init.data as Exclude<TensorData, string[]>;
  const rawData = new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice();
  return create(TensorProtoSchema, { name: init.name, dataType: init.dataType, dims, rawData });
}

/** Converts IEEE half-precision bits to a float. */
export function float16ToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Converts a float to IEEE half-precision bits, rounding to nearest even (as numpy does). */
export function float32ToFloat16(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mantissa & ((1 << shift) - 1);
    let result = mantissa >>> shift;
    if (rest > half || (rest === half && (result & 1) === 1)) result += 1;
    return sign | result;
  }
  const rest = mantissa & 0x1fff;
  let result = (e << 10) | (mantissa >>> 13);
  // A carry out of the mantissa rolls into the exponent, which is exactly right (up to infinity).
  if (rest > 0x1000 || (rest === 0x1000 && (result & 1) === 1)) result += 1;
  return sign | result;
}
