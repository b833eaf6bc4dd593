import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromOrtTensor, hostTensor, toOrtTensor, type HostTensor } from './tensors.js';

describe('hostTensor', () => {
  it('accepts data that fills the dims, and copies the dims', () => {
    const dims = [2, 3];
    const data = Float32Array.of(1, 2, 3, 4, 5, 6);
    const tensor = hostTensor('float32', dims, data);
    assert.deepEqual(tensor, { type: 'float32', dims: [2, 3], data });
    assert.equal(tensor.data, data, 'data is not copied');
    dims[0] = 7;
    assert.deepEqual(tensor.dims, [2, 3], 'later edits to the caller dims do not leak in');
  });

  it('treats empty dims as a scalar of one element and a zero dim as empty', () => {
    assert.deepEqual(hostTensor('int64', [], BigInt64Array.of(3n)).dims, []);
    assert.throws(() => hostTensor('int64', [], new BigInt64Array(0)), RangeError);
    assert.equal(hostTensor('float32', [0, 4], new Float32Array(0)).data.length, 0);
  });

  it('rejects data too short or too long, naming type and shape', () => {
    assert.throws(() => hostTensor('float32', [2, 3], new Float32Array(5)), {
      name: 'RangeError',
      message: '5 values do not fill a float32 tensor of shape [2, 3]',
    });
    assert.throws(() => hostTensor('uint8', [4], new Uint8Array(5)), RangeError);
    assert.throws(() => hostTensor('string', [2], ['a']), RangeError);
  });

  it('packs int4 and uint4 two per byte, rounding up an odd count', () => {
    assert.equal(hostTensor('int4', [4], new Uint8Array(2)).data.length, 2);
    assert.equal(hostTensor('uint4', [5], new Uint8Array(3)).data.length, 3);
    assert.equal(hostTensor('int4', [2, 3], new Uint8Array(3)).dims.length, 2);
    assert.throws(() => hostTensor('int4', [4], new Uint8Array(4)), RangeError);
    assert.throws(() => hostTensor('uint4', [5], new Uint8Array(2)), RangeError);
    assert.throws(() => hostTensor('uint4', [5], new Uint8Array(5)), RangeError);
  });
});

describe('toOrtTensor / fromOrtTensor', () => {
  const cases: HostTensor[] = [
    { type: 'float32', dims: [2, 2], data: Float32Array.of(1.5, -2, 0, 3.25) },
    { type: 'float64', dims: [3], data: Float64Array.of(Math.PI, -1e300, 5e-324) },
    { type: 'float16', dims: [2], data: Uint16Array.of(0x3c00, 0xbc00) },
    { type: 'int64', dims: [1, 3], data: BigInt64Array.of(-(2n ** 62n), 0n, 9n) },
    { type: 'uint64', dims: [1], data: BigUint64Array.of(2n ** 63n) },
    { type: 'int32', dims: [2, 1, 1], data: Int32Array.of(-7, 2 ** 30) },
    { type: 'int8', dims: [2], data: Int8Array.of(-128, 127) },
    { type: 'uint8', dims: [], data: Uint8Array.of(200) },
    { type: 'bool', dims: [3], data: Uint8Array.of(1, 0, 1) },
    { type: 'string', dims: [2], data: ['kiln', ''] },
    { type: 'uint4', dims: [3], data: Uint8Array.of(0x21, 0x03) },
    { type: 'int4', dims: [2, 2], data: Uint8Array.of(0xf1, 0x7e) },
  ];
  for (const tensor of cases) {
    it(`round-trips a ${tensor.type} tensor of shape [${tensor.dims.join(', ')}]`, () => {
      const ort = toOrtTensor(tensor);
      assert.equal(ort.type, tensor.type);
      assert.deepEqual(ort.dims, tensor.dims);
      const back = fromOrtTensor(ort);
      assert.deepEqual(back, tensor);
    });
  }

  it('shares the data buffer both ways (no copy)', () => {
    const tensor = hostTensor('float32', [3], Float32Array.of(1, 2, 3));
    const ort = toOrtTensor(tensor);
    assert.equal(ort.data, tensor.data);
    assert.equal(fromOrtTensor(ort).data, tensor.data);
  });

  it('returns plain number dims, detached from the ort tensor', () => {
    const back = fromOrtTensor(toOrtTensor({ type: 'int32', dims: [1, 2], data: Int32Array.of(4, 5) }));
    assert.ok(Array.isArray(back.dims));
    assert.deepEqual(back.dims, [1, 2]);
    assert.ok(back.dims.every((dim) => typeof dim === 'number'));
  });

  it('refuses data of the wrong array class for the type', () => {
    assert.throws(() => toOrtTensor({ type: 'float32', dims: [2], data: Int32Array.of(1, 2) }));
  });
});
