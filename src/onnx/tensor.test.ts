import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { KilnError, type ErrorCode } from '../core/errors.js';
import { DataType, DTYPES, type DTypeInfo, type TensorData } from './dtype.js';
import { TensorProto_DataLocation as DataLocation, TensorProtoSchema } from './gen/onnx_pb.js';
import { decodeTensor, encodeTensor, float16ToFloat32, float32ToFloat16 } from './tensor.js';

function rejectsWith(code: ErrorCode, pattern?: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof KilnError, `expected a KilnError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

/** Sample values (6 elements, shape [2, 3]) in kiln's storage form for each element type. */
function sampleData(info: DTypeInfo): TensorData {
  switch (info.dataType) {
    case DataType.FLOAT:
      return Float32Array.from([0, -1.5, 3.25, 1e-8, -65504, 123456.5]);
    case DataType.UINT8:
      return Uint8Array.from([0, 1, 127, 128, 200, 255]);
    case DataType.INT8:
      return Int8Array.from([-128, -1, 0, 1, 64, 127]);
    case DataType.UINT16:
      return Uint16Array.from([0, 1, 255, 256, 40000, 65535]);
    case DataType.INT16:
      return Int16Array.from([-32768, -300, -1, 0, 300, 32767]);
    case DataType.INT32:
      return Int32Array.from([-(2 ** 31), -70000, -1, 0, 70000, 2 ** 31 - 1]);
    case DataType.INT64:
      return BigInt64Array.from([-(2n ** 63n), -(2n ** 40n), -1n, 0n, 2n ** 40n + 7n, 2n ** 63n - 1n]);
    case DataType.STRING:
      return ['', 'a', 'héllo', '日本', 'with\u0000nul', '🙂'];
    case DataType.BOOL:
      return Uint8Array.from([0, 1, 1, 0, 0, 1]);
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      // Raw bits: 0, -0, 1, -2, +inf, a subnormal.
      return Uint16Array.from([0x0000, 0x8000, 0x3c00, 0xc000, 0x7c00, 0x0001]);
    case DataType.DOUBLE:
      return Float64Array.from([0, -0.1, Math.PI, 1e300, -5e-324, 2 ** 53 + 2]);
    case DataType.UINT32:
      return Uint32Array.from([0, 1, 65536, 2 ** 31, 3_000_000_000, 2 ** 32 - 1]);
    case DataType.UINT64:
      return BigUint64Array.from([0n, 1n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 2n, 2n ** 64n - 1n]);
    case DataType.COMPLEX64:
      return Float32Array.from([1, -1, 0.5, 2, -3.75, 0, 0, 8, 1e10, -1e-10, 7, 7]);
    case DataType.COMPLEX128:
      return Float64Array.from([1, -1, 0.1, 2, -3.75, 0, 0, 8, 1e100, -1e-100, Math.E, 7]);
    default:
      if (info.arrayPerElement === 0.5) return Uint8Array.from([0x10, 0xfe, 0x7a]); // 6 packed nibbles
      return Uint8Array.from([0x00, 0x38, 0x7f, 0x80, 0xff, 0x01]); // float8 bit patterns
  }
}

/** The same values as ONNX's typed field for the element type holds them. */
function typedFieldValues(info: DTypeInfo, data: TensorData): unknown[] {
  if (Array.isArray(data)) return data.map((text) => new TextEncoder().encode(text));
  if (info.typedField === 'uint64Data' && data instanceof Uint32Array) return Array.from(data, (v) => BigInt(v));
  return Array.from(data as ArrayLike<number | bigint>);
}

function toPlain(data: TensorData): unknown[] {
  return Array.from(data as ArrayLike<unknown>);
}

function expectedCtor(info: DTypeInfo): unknown {
  if (info.array === 'string') return Array;
  const ctors = {
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
  return ctors[info.array];
}

describe('decodeTensor / encodeTensor', () => {
  it('covers all 23 ONNX element types', () => {
    assert.equal(DTYPES.size, 23);
    assert.equal(DTYPES.has(DataType.UNDEFINED), false);
  });

  for (const info of DTYPES.values()) {
    it(`${info.name}: round-trips through raw_data (or string_data)`, () => {
      const data = sampleData(info);
      const tensor = encodeTensor({ name: `t_${info.name}`, dataType: info.dataType, dims: [2, 3], data });
      assert.deepEqual(tensor.dims, [2n, 3n]);
      if (info.array === 'string') {
        assert.equal(tensor.rawData.length, 0);
        assert.equal(tensor.stringData.length, 6);
      } else {
        assert.equal(tensor.rawData.length, Math.ceil((6 * info.bits) / 8));
      }
      const decoded = decodeTensor(tensor);
      assert.equal(decoded.name, `t_${info.name}`);
      assert.equal(decoded.dataType, info.dataType);
      assert.deepEqual(decoded.dims, [2, 3]);
      assert.equal(decoded.data.constructor, expectedCtor(info));
      assert.deepEqual(toPlain(decoded.data), toPlain(data));
    });

    it(`${info.name}: decodes from the typed field ${info.typedField}`, () => {
      const data = sampleData(info);
      const tensor = create(TensorProtoSchema, {
        name: 'typed',
        dataType: info.dataType,
        dims: [2n, 3n],
        [info.typedField]: typedFieldValues(info, data),
      });
      const decoded = decodeTensor(tensor);
      assert.equal(decoded.data.constructor, expectedCtor(info));
      assert.deepEqual(toPlain(decoded.data), toPlain(data));
    });
  }

  it('writes raw_data little endian and reads hand-built little-endian bytes', () => {
    const encoded = encodeTensor({ name: 'i', dataType: DataType.INT32, dims: [2], data: Int32Array.from([1, -2]) });
    assert.deepEqual([...encoded.rawData], [1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff]);
    const tensor = create(TensorProtoSchema, {
      dataType: DataType.FLOAT,
      dims: [2n],
      rawData: Uint8Array.from([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0]),
    });
    assert.deepEqual([...(decodeTensor(tensor).data as Float32Array)], [1, -2]);
  });

  it('keeps 4-bit values packed: an odd count rounds up to whole bytes', () => {
    const tensor = encodeTensor({ name: 'q', dataType: DataType.INT4, dims: [3], data: Uint8Array.from([0x21, 0x03]) });
    assert.deepEqual([...tensor.rawData], [0x21, 0x03]);
    assert.deepEqual([...(decodeTensor(tensor).data as Uint8Array)], [0x21, 0x03]);
  });

  it('decodes a scalar (no dims) and an empty tensor', () => {
    const scalar = encodeTensor({ name: 's', dataType: DataType.DOUBLE, dims: [], data: Float64Array.of(2.5) });
    assert.deepEqual(decodeTensor(scalar).dims, []);
    assert.deepEqual([...(decodeTensor(scalar).data as Float64Array)], [2.5]);
    const empty = create(TensorProtoSchema, { dataType: DataType.FLOAT, dims: [0n, 4n] });
    assert.equal(decodeTensor(empty).data.length, 0);
  });

  it('prefers raw_data when both raw_data and a typed field are set', () => {
    const tensor = create(TensorProtoSchema, {
      dataType: DataType.FLOAT,
      dims: [1n],
      rawData: new Uint8Array(Float32Array.of(7).buffer),
      floatData: [9],
    });
    assert.deepEqual([...(decodeTensor(tensor).data as Float32Array)], [7]);
  });

  it('decodes raw_data that is an unaligned view (odd byteOffset)', () => {
    const values = Float64Array.from([1.5, -2.25, 1e-300]);
    const backing = new Uint8Array(1 + values.byteLength + 3);
    backing.fill(0xaa);
    backing.set(new Uint8Array(values.buffer), 1);
    const rawData = backing.subarray(1, 1 + values.byteLength);
    assert.equal(rawData.byteOffset % 8, 1);
    const tensor = create(TensorProtoSchema, { dataType: DataType.DOUBLE, dims: [3n], rawData });
    const decoded = decodeTensor(tensor).data as Float64Array;
    assert.deepEqual([...decoded], [...values]);
    assert.equal(decoded.byteOffset % 8, 0);
  });

  it(
    'decodes raw_data held in a Node Buffer view, as fromBinary yields for readFileSync bytes',
    () => {
      const values = Int32Array.from([11, -22, 33]);
      const file = Buffer.alloc(64, 0x55);
      file.set(new Uint8Array(values.buffer), 17);
      const rawData = file.subarray(17, 17 + values.byteLength);
      const tensor = create(TensorProtoSchema, { dataType: DataType.INT32, dims: [3n], rawData });
      const decoded = decodeTensor(tensor).data as Int32Array;
      assert.deepEqual([...decoded], [11, -22, 33]);
      decoded[0] = 99;
      assert.equal(file.readInt32LE(17), 11);
    },
  );

  it('returns a fresh copy: mutating the result leaves the tensor alone', () => {
    const raw = encodeTensor({ name: 'r', dataType: DataType.FLOAT, dims: [2], data: Float32Array.of(1, 2) });
    const before = raw.rawData.slice();
    const decodedRaw = decodeTensor(raw).data as Float32Array;
    decodedRaw[0] = 42;
    assert.deepEqual(raw.rawData, before);
    assert.deepEqual([...(decodeTensor(raw).data as Float32Array)], [1, 2]);

    const typed = create(TensorProtoSchema, { dataType: DataType.INT64, dims: [2n], int64Data: [5n, 6n] });
    const decodedTyped = decodeTensor(typed).data as BigInt64Array;
    decodedTyped[1] = 0n;
    assert.deepEqual(typed.int64Data, [5n, 6n]);

    const strings = encodeTensor({ name: 's', dataType: DataType.STRING, dims: [1], data: ['x'] });
    (decodeTensor(strings).data as string[])[0] = 'y';
    assert.deepEqual(decodeTensor(strings).data, ['x']);
  });

  it('encodeTensor copies its input', () => {
    const data = Float32Array.of(1, 2, 3);
    const tensor = encodeTensor({ name: 'c', dataType: DataType.FLOAT, dims: [3], data });
    data[0] = 100;
    assert.deepEqual([...(decodeTensor(tensor).data as Float32Array)], [1, 2, 3]);
  });

  it('rejects a wrong value count with KILN_ONNX_MODEL_INVALID', () => {
    const shortRaw = create(TensorProtoSchema, { name: 'w', dataType: DataType.FLOAT, dims: [2n, 2n], rawData: new Uint8Array(12) });
    assert.throws(() => decodeTensor(shortRaw), rejectsWith('KILN_ONNX_MODEL_INVALID', /'w'.*12 raw bytes.*16/));
    const typed = create(TensorProtoSchema, { name: 'f', dataType: DataType.FLOAT, dims: [2n, 3n], floatData: [1, 2, 3, 4, 5] });
    assert.throws(() => decodeTensor(typed), rejectsWith('KILN_ONNX_MODEL_INVALID', /'f' has 5 values for shape \[2, 3\]/));
    const strings = create(TensorProtoSchema, {
      name: 'st',
      dataType: DataType.STRING,
      dims: [3n],
      stringData: [new Uint8Array([0x61])],
    });
    assert.throws(() => decodeTensor(strings), rejectsWith('KILN_ONNX_MODEL_INVALID'));
    const missing = create(TensorProtoSchema, { name: 'm', dataType: DataType.INT32, dims: [4n] });
    assert.throws(() => decodeTensor(missing), rejectsWith('KILN_ONNX_MODEL_INVALID'));
  });

  it('encodeTensor rejects data that does not fill the shape', () => {
    assert.throws(
      () => encodeTensor({ name: 'e', dataType: DataType.FLOAT, dims: [2, 2], data: new Float32Array(3) }),
      rejectsWith('KILN_CORE_INVALID_ARGUMENT', /'e'/),
    );
  });

  it('rejects unknown element types with KILN_ONNX_DTYPE_UNSUPPORTED', () => {
    for (const dataType of [0, 99]) {
      const tensor = create(TensorProtoSchema, { name: 'u', dataType, dims: [1n], rawData: new Uint8Array(4) });
      assert.throws(() => decodeTensor(tensor), rejectsWith('KILN_ONNX_DTYPE_UNSUPPORTED', /'u'/));
      assert.throws(
        () => encodeTensor({ name: 'u', dataType, dims: [1], data: new Uint8Array(4) }),
        rejectsWith('KILN_ONNX_DTYPE_UNSUPPORTED'),
      );
    }
  });

  it('rejects an external tensor whose data was not loaded', () => {
    const tensor = create(TensorProtoSchema, {
      name: 'ext',
      dataType: DataType.FLOAT,
      dims: [4n],
      dataLocation: DataLocation.EXTERNAL,
      externalData: [{ key: 'location', value: 'w.bin' }],
    });
    assert.throws(() => decodeTensor(tensor), rejectsWith('KILN_ONNX_EXTERNAL_DATA_INVALID', /'ext'/));
  });
});

describe('float16 conversions', () => {
  const isHalfNaN = (bits: number): boolean => (bits & 0x7c00) === 0x7c00 && (bits & 0x03ff) !== 0;

  it('float32ToFloat16 on hand-computed cases', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff],
      [65519, 0x7bff], // below the midpoint to 65536
      [65520, 0x7c00], // midpoint, ties to even: the even neighbour is infinity
      [1e6, 0x7c00],
      [-1e6, 0xfc00],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [-(2 ** -24), 0x8001],
      [2 ** -25, 0x0000], // half the smallest subnormal: tie, to even (0)
      [1.5 * 2 ** -25, 0x0001],
      [3 * 2 ** -25, 0x0002], // 1.5 × smallest subnormal: tie between 1 and 2, to even
      [2 ** -26, 0x0000],
      [1023 * 2 ** -24, 0x03ff], // largest subnormal
      [1 + 2 ** -11, 0x3c00], // tie, to even (mantissa 0)
      [1 + 3 * 2 ** -11, 0x3c02], // tie between 1+2^-10 and 1+2^-9, to even (1+2^-9)
      [1 + 2 ** -10, 0x3c01],
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // above the tie
      [2 - 2 ** -12, 0x4000], // above the midpoint to 2: rounds up, carrying into the exponent
    ];
    for (const [value, bits] of cases) {
      assert.equal(float32ToFloat16(value), bits, `float32ToFloat16(${value}) = 0x${float32ToFloat16(value).toString(16)}`);
    }
    assert.ok(isHalfNaN(float32ToFloat16(Number.NaN)));
  });

  it('float16ToFloat32 on hand-computed cases', () => {
    assert.ok(Object.is(float16ToFloat32(0x0000), 0));
    assert.ok(Object.is(float16ToFloat32(0x8000), -0));
    assert.equal(float16ToFloat32(0x3c00), 1);
    assert.equal(float16ToFloat32(0xc000), -2);
    assert.equal(float16ToFloat32(0x7bff), 65504);
    assert.equal(float16ToFloat32(0x0001), 2 ** -24);
    assert.equal(float16ToFloat32(0x03ff), 1023 * 2 ** -24);
    assert.equal(float16ToFloat32(0x0400), 2 ** -14);
    assert.equal(float16ToFloat32(0x3555), 0.333251953125);
    assert.equal(float16ToFloat32(0x7c00), Infinity);
    assert.equal(float16ToFloat32(0xfc00), -Infinity);
    assert.ok(Number.isNaN(float16ToFloat32(0x7e00)));
    assert.ok(Number.isNaN(float16ToFloat32(0xfc01)));
  });

  it('round-trips every non-NaN half bit pattern', () => {
    let checked = 0;
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = float16ToFloat32(bits);
      if (isHalfNaN(bits)) {
        assert.ok(Number.isNaN(value), `0x${bits.toString(16)} should be NaN`);
        assert.ok(isHalfNaN(float32ToFloat16(value)));
        continue;
      }
      const back = float32ToFloat16(value);
      if (back !== bits) assert.fail(`0x${bits.toString(16)} -> ${value} -> 0x${back.toString(16)}`);
      checked++;
    }
    assert.equal(checked, 65536 - 2 * 1023);
  });
});
