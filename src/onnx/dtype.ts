import type { TensorProto_DataType } from './gen/onnx_pb.js';

const DATA_TYPE_VALUES = {
  UNDEFINED: 0, FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, FLOAT16: 10, DOUBLE: 11,
  UINT32: 12, UINT64: 13, COMPLEX64: 14, COMPLEX128: 15, BFLOAT16: 16, FLOAT8E4M3FN: 17, FLOAT8E4M3FNUZ: 18, FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20, UINT4: 21, INT4: 22, FLOAT4E2M1: 23,
} as const;

/**
 * ONNX's `TensorProto.DataType`: the generated enum, value for value and with its reverse
 * mapping (dtype.test.ts checks they are equal), defined here so that this table loads without
 * the ONNX schema and protobuf runtime, which the server's own thread, decoding tensor bundles,
 * would otherwise import at start-up for nothing.
 */
export const DataType: typeof TensorProto_DataType = Object.freeze(
  Object.fromEntries(Object.entries(DATA_TYPE_VALUES).flatMap(([name, value]) => [[name, value], [value, name]])),
) as unknown as typeof TensorProto_DataType;
export type DataType = TensorProto_DataType;

/** Typed-array storage kiln uses for each element type; see {@link DTYPES}. */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | string[];

/** Which TensorProto typed field holds the values when `raw_data` is not used. */
export type TypedField =
  | 'floatData'
  | 'int32Data'
  | 'int64Data'
  | 'doubleData'
  | 'uint64Data'
  | 'stringData';

type ArrayKind =
  | 'float32'
  | 'float64'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'string';

/** What kiln knows about one ONNX element type. */
export interface DTypeInfo {
  readonly dataType: DataType;
  /** ONNX name, lower case (`float16`, `float8e4m3fn`). */
  readonly name: string;
  /** onnxruntime-node's tensor type name, when ORT JS can carry it. */
  readonly ortType: string | undefined;
  /** Storage bits per element (4 for int4/uint4/float4, 64 for complex64…). */
  readonly bits: number;
  /** JS array used to hold the values; 16-bit floats are kept as their raw bits (Uint16Array). */
  readonly array: ArrayKind;
  /** Array entries per element: 2 for complex types, 0.5 for packed 4-bit types. */
  readonly arrayPerElement: number;
  readonly typedField: TypedField;
}

function entry(
  dataType: DataType,
  name: string,
  ortType: string | undefined,
  bits: number,
  array: ArrayKind,
  typedField: TypedField,
  arrayPerElement = 1,
): DTypeInfo {
  return Object.freeze({ dataType, name, ortType, bits, array, arrayPerElement, typedField });
}

/** Every tensor element type ONNX defines, keyed by its `TensorProto.DataType` value. */
export const DTYPES: ReadonlyMap<DataType, DTypeInfo> = new Map(
  [
    entry(DataType.FLOAT, 'float32', 'float32', 32, 'float32', 'floatData'),
    entry(DataType.UINT8, 'uint8', 'uint8', 8, 'uint8', 'int32Data'),
    entry(DataType.INT8, 'int8', 'int8', 8, 'int8', 'int32Data'),
    entry(DataType.UINT16, 'uint16', 'uint16', 16, 'uint16', 'int32Data'),
    entry(DataType.INT16, 'int16', 'int16', 16, 'int16', 'int32Data'),
    entry(DataType.INT32, 'int32', 'int32', 32, 'int32', 'int32Data'),
    entry(DataType.INT64, 'int64', 'int64', 64, 'int64', 'int64Data'),
    entry(DataType.STRING, 'string', 'string', 0, 'string', 'stringData'),
    entry(DataType.BOOL, 'bool', 'bool', 8, 'uint8', 'int32Data'),
    entry(DataType.FLOAT16, 'float16', 'float16', 16, 'uint16', 'int32Data'),
    entry(DataType.DOUBLE, 'float64', 'float64', 64, 'float64', 'doubleData'),
    entry(DataType.UINT32, 'uint32', 'uint32', 32, 'uint32', 'uint64Data'),
    entry(DataType.UINT64, 'uint64', 'uint64', 64, 'uint64', 'uint64Data'),
    entry(DataType.COMPLEX64, 'complex64', undefined, 64, 'float32', 'floatData', 2),
    entry(DataType.COMPLEX128, 'complex128', undefined, 128, 'float64', 'doubleData', 2),
    entry(DataType.BFLOAT16, 'bfloat16', undefined, 16, 'uint16', 'int32Data'),
    entry(DataType.FLOAT8E4M3FN, 'float8e4m3fn', undefined, 8, 'uint8', 'int32Data'),
    entry(DataType.FLOAT8E4M3FNUZ, 'float8e4m3fnuz', undefined, 8, 'uint8', 'int32Data'),
    entry(DataType.FLOAT8E5M2, 'float8e5m2', undefined, 8, 'uint8', 'int32Data'),
    entry(DataType.FLOAT8E5M2FNUZ, 'float8e5m2fnuz', undefined, 8, 'uint8', 'int32Data'),
    entry(DataType.UINT4, 'uint4', 'uint4', 4, 'uint8', 'int32Data', 0.5),
    entry(DataType.INT4, 'int4', 'int4', 4, 'uint8', 'int32Data', 0.5),
    entry(DataType.FLOAT4E2M1, 'float4e2m1', undefined, 4, 'uint8', 'int32Data', 0.5),
  ].map((info) => [info.dataType, info]),
);

/** The info for a data type, or undefined for UNDEFINED and unknown values. */
export function dtypeInfo(dataType: number): DTypeInfo | undefined {
  return DTYPES.get(dataType as DataType);
}

/** ONNX name of a data type for messages (`float32`, or `dtype(99)` when unknown). */
export function dtypeName(dataType: number): string {
  return dtypeInfo(dataType)?.name ?? `dtype(${dataType})`;
}

const CONSTRUCTORS = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
} as const;

/** The typed-array constructor for a numeric storage kind. */
export function arrayConstructor(info: DTypeInfo): (typeof CONSTRUCTORS)[Exclude<ArrayKind, 'string'>] {
  if (info.array === 'string') throw new TypeError('string tensors are not typed arrays');
  return CONSTRUCTORS[info.array];
}

/** Number of array entries for `elements` tensor elements (complex doubles, 4-bit halves). */
export function arrayLength(info: DTypeInfo, elements: number): number {
  return Math.ceil(elements * info.arrayPerElement);
}

/** Bytes taken by `elements` elements in raw (little-endian, packed) form. */
export function rawByteLength(info: DTypeInfo, elements: number): number {
  return Math.ceil((elements * info.bits) / 8);
}
