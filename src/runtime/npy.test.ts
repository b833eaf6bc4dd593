import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeNpy as npy } from '../../test/fixtures/npy.js';
import { KilnError } from '../core/errors.js';
import { isNpy, parseNpy } from './npy.js';

function invalidAs(code: string, pattern: RegExp, details: Record<string, unknown> = {}): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof KilnError, String(error));
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    assert.deepEqual(error.details, details);
    return true;
  };
}

describe('parseNpy', () => {
  it('reads each supported dtype and header version, keeping the array type', () => {
    const f4 = parseNpy(npy('<f4', [2, 3], Float32Array.of(1, 2, 3, 4, 5, 6.5)), { name: 'a.npy' });
    assert.deepEqual(f4, { type: 'float32', dims: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6.5) });
    const f8 = parseNpy(npy('<f8', [3], Float64Array.of(0.1, -2, 1e300), { version: 2 }), { name: 'b.npy' });
    assert.deepEqual(f8, { type: 'float64', dims: [3], data: Float64Array.of(0.1, -2, 1e300) });
    assert.deepEqual(parseNpy(npy('<i8', [1, 2], BigInt64Array.of(-5n, 2n ** 40n), { version: 3 }), { name: 'c.npy' }).data, BigInt64Array.of(-5n, 2n ** 40n));
    assert.deepEqual(parseNpy(npy('<i4', [2], Int32Array.of(-7, 9)), { name: 'd.npy' }), { type: 'int32', dims: [2], data: Int32Array.of(-7, 9) });
    assert.deepEqual(parseNpy(npy('|u1', [1, 1, 3], Uint8Array.of(0, 128, 255)), { name: 'e.npy' }), { type: 'uint8', dims: [1, 1, 3], data: Uint8Array.of(0, 128, 255) });
    assert.deepEqual(parseNpy(npy('<f4', [], Float32Array.of(3)), { name: 'scalar.npy' }), { type: 'float32', dims: [], data: Float32Array.of(3) });
  });

  it('reads data at an odd offset inside a larger buffer (copies it aligned)', () => {
    const file = npy('<f4', [2], Float32Array.of(1.5, -3));
    const padded = new Uint8Array(file.length + 1);
    padded.set(file, 1);
    assert.deepEqual(parseNpy(padded.subarray(1), { name: 'odd' }).data, Float32Array.of(1.5, -3));
  });

  it('with view, shares the bytes when the data is aligned, and copies it when not', () => {
    const file = new Uint8Array(npy('<f4', [2], Float32Array.of(1.5, -3)));
    const shared = parseNpy(file, { name: 'aligned', view: true });
    assert.equal((shared.data as Float32Array).buffer, file.buffer);
    assert.deepEqual(shared.data, Float32Array.of(1.5, -3));
    assert.notEqual((parseNpy(file, { name: 'copied' }).data as Float32Array).buffer, file.buffer, 'a copy by default');
    const padded = new Uint8Array(file.length + 1);
    padded.set(file, 1);
    const odd = parseNpy(padded.subarray(1), { name: 'odd', view: true });
    assert.notEqual((odd.data as Float32Array).buffer, padded.buffer);
    assert.deepEqual(odd.data, Float32Array.of(1.5, -3));
  });

  it('refuses what it cannot read exactly, saying why', () => {
    const cases: [Buffer, RegExp][] = [
      [npy('<f4', [2, 2], new Float32Array(4), { fortran: true }), /^x\.npy: is stored in Fortran order; save it in C order/],
      [npy('>f4', [2], new Float32Array(2)), /^x\.npy: is big-endian \(>f4\); save it little-endian/],
      [npy('|O', [2], new Float64Array(2)), /^x\.npy: holds a NumPy object array/],
      [npy('<f2', [2], new Uint16Array(2)), /^x\.npy: has dtype '<f2'; kiln reads float32, float64, int64, int32 and uint8/],
      [npy('|b1', [2], new Uint8Array(2)), /has dtype '\|b1'/],
      [npy('<f4', [2, 2], new Float32Array(3)), /^x\.npy: holds 12 data bytes, but shape \(2, 2\) of <f4 needs 16/],
      [Buffer.from('PK\x03\x04 a zip file, not an npy'), /^x\.npy: is not a NumPy \.npy file/],
      [Buffer.concat([npy('<f4', [1], new Float32Array(1)).subarray(0, 6), Buffer.from([4, 0, 0, 0])]), /format version 4\.0/],
      [npy('<f4', [1], new Float32Array(1)).subarray(0, 30), /truncated inside its header/],
    ];
    for (const [bytes, pattern] of cases) assert.throws(() => parseNpy(bytes, { name: 'x.npy' }), invalidAs('KILN_CORE_INVALID_ARGUMENT', pattern));
  });

  it("reports with the caller's code and details", () => {
    const options = { name: 'request 2', code: 'KILN_HANDLER_INPUT_INVALID', details: { requestIndex: 2 } } as const;
    assert.throws(() => parseNpy(Buffer.from('{"inputs": {}}'), options), invalidAs('KILN_HANDLER_INPUT_INVALID', /^request 2: is not a NumPy/, { requestIndex: 2 }));
  });
});

describe('isNpy', () => {
  it('looks at the magic bytes only', () => {
    assert.equal(isNpy(npy('<f4', [1], new Float32Array(1))), true);
    assert.equal(isNpy(Buffer.from('\x93NUMP', 'latin1')), false);
    assert.equal(isNpy(Buffer.from('{"inputs": {}}')), false);
  });
});
