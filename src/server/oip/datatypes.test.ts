import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  dataFromBytes,
  dataFromJson,
  dataToBytes,
  dataToJson,
  elementBytes,
  halfToNumber,
  hostTypeOf,
  isOipDatatype,
  numberToHalf,
  oipDatatypeOf,
  stringsFromBytes,
  stringsToBytes,
  type OipDatatype,
} from './datatypes.js';
import { rejectsWith } from '../../../test/fixtures/errors.js';

const rejects = (pattern: RegExp) => rejectsWith('KILN_OIP_REQUEST_INVALID', pattern);

const PAIRS: readonly [string, OipDatatype][] = [
  ['bool', 'BOOL'],
  ['uint8', 'UINT8'],
  ['uint16', 'UINT16'],
  ['uint32', 'UINT32'],
  ['uint64', 'UINT64'],
  ['int8', 'INT8'],
  ['int16', 'INT16'],
  ['int32', 'INT32'],
  ['int64', 'INT64'],
  ['float16', 'FP16'],
  ['float32', 'FP32'],
  ['float64', 'FP64'],
  ['string', 'BYTES'],
];

describe('datatype table', () => {
  it('maps every kiln type to its OIP datatype and back', () => {
    for (const [host, datatype] of PAIRS) {
      assert.equal(oipDatatypeOf(host), datatype);
      assert.equal(hostTypeOf(datatype), host);
    }
  });

  it('has no OIP datatype for types OIP cannot carry', () => {
    for (const type of ['bfloat16', 'complex64', 'float8e4m3fn', 'int4', 'uint4', 'non-tensor', 'toString', 'FP32']) {
      assert.equal(oipDatatypeOf(type), undefined, type);
    }
  });

  it('recognises only the exact datatype names', () => {
    assert.equal(isOipDatatype('FP32'), true);
    assert.equal(isOipDatatype('BYTES'), true);
    for (const value of ['fp32', 'BF16', 'FLOAT', 'toString', '', 3, null, undefined]) assert.equal(isOipDatatype(value), false, String(value));
  });

  it('gives fixed element sizes, none for BYTES', () => {
    assert.deepEqual(
      PAIRS.map(([, datatype]) => elementBytes(datatype)),
      [1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 4, 8, undefined],
    );
  });
});

describe('half precision', () => {
  it('converts known values', () => {
    assert.equal(numberToHalf(1), 0x3c00);
    assert.equal(numberToHalf(-2), 0xc000);
    assert.equal(numberToHalf(0.1), 0x2e66);
    assert.equal(numberToHalf(-0), 0x8000);
    assert.equal(numberToHalf(65504), 0x7bff);
    assert.equal(numberToHalf(Infinity), 0x7c00);
    assert.equal(numberToHalf(-Infinity), 0xfc00);
    assert.ok(Number.isNaN(halfToNumber(numberToHalf(NaN))));
    assert.equal(halfToNumber(0x3555), 0.333251953125);
  });

  it('rounds to nearest, ties to even', () => {
    assert.equal(numberToHalf(1 + 2 ** -11), 0x3c00, 'tie between 1 and the next half goes to the even 1');
    assert.equal(numberToHalf(1 + 3 * 2 ** -11), 0x3c02, 'tie between odd 0x3c01 and even 0x3c02');
    assert.equal(numberToHalf(1 + 2 ** -11 + 2 ** -20), 0x3c01, 'just above the tie rounds up');
    assert.equal(numberToHalf(65519), 0x7bff);
    assert.equal(numberToHalf(65520), 0x7c00, 'the tie above the largest half overflows');
    assert.equal(numberToHalf(2 ** -25), 0x0000, 'tie between 0 and the smallest subnormal');
    assert.equal(numberToHalf(3 * 2 ** -26), 0x0001);
    assert.equal(numberToHalf(2 ** -14 - 2 ** -26), 0x0400, 'rounds up from subnormal to the smallest normal');
  });

  it('picks the nearest half for arbitrary doubles', () => {
    let seed = 12345;
    const next = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 20000; i++) {
      const value = (next() - 0.5) * 2 ** Math.floor(next() * 40 - 24);
      const bits = numberToHalf(value);
      const error = Math.abs(halfToNumber(bits) - value);
      for (const neighbour of [bits - 1, bits + 1]) {
        // Only neighbours of the same sign that are finite halves.
        if (neighbour < 0 || (neighbour & 0x8000) !== (bits & 0x8000) || (neighbour & 0x7c00) === 0x7c00) continue;
        assert.ok(error <= Math.abs(halfToNumber(neighbour) - value), `${value} -> 0x${bits.toString(16)}`);
      }
    }
  });

  it('round-trips every half value exactly', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = halfToNumber(bits);
      if (Number.isNaN(value)) continue;
      assert.equal(numberToHalf(value), bits, `bits 0x${bits.toString(16)}`);
    }
  });
});

describe('JSON element codec', () => {
  it('converts valid elements into host storage', () => {
    assert.deepEqual(dataFromJson('FP32', [1.5, -2], 'input x'), Float32Array.of(1.5, -2));
    assert.deepEqual(dataFromJson('INT64', [-(2 ** 53 - 1), 7], 'input x'), BigInt64Array.of(-(2n ** 53n - 1n), 7n));
    assert.deepEqual(dataFromJson('UINT64', [2 ** 53 - 1], 'input x'), BigUint64Array.of(2n ** 53n - 1n));
    assert.deepEqual(dataFromJson('BOOL', [true, false], 'input x'), Uint8Array.of(1, 0));
    assert.deepEqual(dataFromJson('FP16', [1, 0.1], 'input x'), Uint16Array.of(0x3c00, 0x2e66));
    assert.deepEqual(dataFromJson('INT8', [-128, 127], 'input x'), Int8Array.of(-128, 127));
    assert.deepEqual(dataFromJson('BYTES', ['ab', ''], 'input x'), ['ab', '']);
  });

  it('rejects elements that do not fit, naming the element', () => {
    assert.throws(() => dataFromJson('INT32', [1, 1.5], "input 'x'"), rejects(/^input 'x': element 1 \(1\.5\) is not an integer for INT32$/));
    assert.throws(() => dataFromJson('INT8', [128], "input 'x'"), rejects(/element 0 \(128\) is out of range \[-128, 127\] for INT8/));
    assert.throws(() => dataFromJson('UINT8', [-1], "input 'x'"), rejects(/out of range \[0, 255\] for UINT8/));
    assert.throws(() => dataFromJson('UINT32', [2 ** 32], "input 'x'"), rejects(/out of range/));
    assert.throws(() => dataFromJson('INT64', [2 ** 53], "input 'x'"), rejects(/element 0 \(9007199254740992\) is out of range/));
    assert.throws(() => dataFromJson('INT64', [-(2 ** 53)], "input 'x'"), rejects(/out of range/));
    assert.throws(() => dataFromJson('UINT64', [-1], "input 'x'"), rejects(/out of range/));
    assert.throws(() => dataFromJson('BOOL', [true, 1], "input 'x'"), rejects(/element 1 \(1\) is not a boolean for BOOL/));
    assert.throws(() => dataFromJson('BYTES', [1], "input 'x'"), rejects(/element 0 \(1\) is not a string for BYTES/));
    assert.throws(() => dataFromJson('FP32', ['a'], "input 'x'"), rejects(/element 0 \("a"\) is not a number for FP32/));
    assert.throws(() => dataFromJson('FP64', [null], "input 'x'"), rejects(/element 0 \(null\) is not a number/));
    assert.throws(() => dataFromJson('FP32', [1e39], "input 'x'"), rejects(/is out of range for FP32/));
    assert.throws(() => dataFromJson('FP16', [70000], "input 'x'"), rejects(/is out of range for FP16/));
    assert.throws(() => dataFromJson('INT16', [true], "input 'x'"), rejects(/is not a number for INT16/));
  });

  it('writes host storage as JSON values', () => {
    assert.deepEqual(dataToJson('BOOL', Uint8Array.of(1, 0, 255), 'o'), [true, false, true]);
    assert.deepEqual(dataToJson('INT64', BigInt64Array.of(-5n, 2n ** 40n), 'o'), [-5, 2 ** 40]);
    assert.deepEqual(dataToJson('FP16', Uint16Array.of(0x3c00, 0xc000), 'o'), [1, -2]);
    assert.deepEqual(dataToJson('FP32', Float32Array.of(0.5), 'o'), [0.5]);
    assert.deepEqual(dataToJson('BYTES', ['é'], 'o'), ['é']);
  });

  it('refuses NaN and Infinity in JSON, pointing at binary data', () => {
    assert.throws(() => dataToJson('FP32', Float32Array.of(1, NaN), "output 'y'"), rejects(/^output 'y': element 1 is NaN, which JSON cannot carry; request this output with parameters\.binary_data = true$/));
    assert.throws(() => dataToJson('FP16', Uint16Array.of(0x7c00), "output 'y'"), rejects(/element 0 is Infinity/));
  });
});

describe('binary element codec', () => {
  it('reads little-endian bytes into a fresh, aligned array', () => {
    const backing = new Uint8Array(9);
    backing.set([0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0], 1); // 1.5, -2 at an odd offset
    const data = dataFromBytes('FP32', backing.subarray(1));
    assert.ok(data instanceof Float32Array);
    assert.deepEqual(data, Float32Array.of(1.5, -2));
    assert.equal(data.byteOffset, 0);
    assert.notEqual(data.buffer, backing.buffer, 'a copy, not a view of the body');
    assert.deepEqual(dataFromBytes('INT64', Uint8Array.of(0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), BigInt64Array.of(-2n));
    assert.deepEqual(dataFromBytes('FP16', Uint8Array.of(0x00, 0x3c)), Uint16Array.of(0x3c00));
  });

  it('writes little-endian bytes of only the view', () => {
    const whole = Float32Array.of(9, 1.5, 9);
    assert.deepEqual(dataToBytes(whole.subarray(1, 2)), Uint8Array.of(0x00, 0x00, 0xc0, 0x3f));
    assert.deepEqual(dataToBytes(BigUint64Array.of(258n)), Uint8Array.of(2, 1, 0, 0, 0, 0, 0, 0));
  });

  it('frames BYTES elements with 4-byte little-endian lengths', () => {
    const bytes = Uint8Array.of(2, 0, 0, 0, 0x61, 0x62, 0, 0, 0, 0);
    assert.deepEqual(stringsToBytes(['ab', '']), bytes);
    assert.deepEqual(stringsFromBytes(bytes, 'x'), ['ab', '']);
    assert.deepEqual(stringsFromBytes(stringsToBytes(['é', 'x']), 'x'), ['é', 'x']);
    assert.deepEqual(stringsFromBytes(new Uint8Array(0), 'x'), []);
  });

  it('rejects BYTES framing that runs past the tensor or is not UTF-8', () => {
    assert.throws(() => stringsFromBytes(Uint8Array.of(2, 0, 0), "input 's'"), rejects(/^input 's': the length prefix of BYTES element 0 runs past the tensor's 3 bytes$/));
    assert.throws(() => stringsFromBytes(Uint8Array.of(0, 0, 0, 0, 5, 0, 0, 0, 0x61), "input 's'"), rejects(/BYTES element 1 \(5 bytes\) runs past the tensor's 9 bytes/));
    assert.throws(() => stringsFromBytes(Uint8Array.of(1, 0, 0, 0, 0xff), "input 's'"), rejects(/BYTES element 0 is not UTF-8 text/));
  });
});
