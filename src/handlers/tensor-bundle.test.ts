import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KilnError } from '../core/errors.js';
import type { HostTensor } from '../runtime/tensors.js';
import { decodeTensorBundle, encodeTensorBundle } from './tensor-bundle.js';

const tensors: Record<string, HostTensor> = {
  f: { type: 'float32', dims: [2, 2], data: Float32Array.of(1.5, -0, Number.NaN, 3e38) },
  i: { type: 'int64', dims: [3], data: BigInt64Array.of(2n ** 62n + 1n, -1n, 0n) },
  b: { type: 'bool', dims: [1], data: Uint8Array.of(1) },
  h: { type: 'float16', dims: [1], data: Uint16Array.of(0x3c00) },
  s: { type: 'string', dims: [2], data: ['ab', ''] },
  d: { type: 'float64', dims: [1], data: Float64Array.of(Math.PI) },
  e: { type: 'uint8', dims: [0], data: new Uint8Array(0) },
};

describe('tensor bundle', () => {
  it('round-trips every type exactly, int64 beyond 2^53 and NaN included, with 8-aligned data', () => {
    const bundle = encodeTensorBundle(tensors);
    const back = decodeTensorBundle(bundle);
    assert.deepEqual(Object.keys(back), Object.keys(tensors));
    for (const [name, tensor] of Object.entries(tensors)) {
      assert.equal(back[name]!.type, tensor.type, name);
      assert.deepEqual(back[name]!.dims, tensor.dims, name);
      assert.deepEqual(back[name]!.data, tensor.data, name);
      assert.equal(back[name]!.data.constructor, tensor.data.constructor, name);
    }
    // Decoded from its own buffer, numeric tensors are views on it, not copies.
    assert.equal((back['d']!.data as Float64Array).buffer, bundle.buffer);
  });

  it('copies a tensor that would be misaligned in memory', () => {
    const bundle = encodeTensorBundle({ d: tensors['d']! });
    const shifted = new Uint8Array(bundle.length + 1).subarray(1);
    shifted.set(bundle);
    assert.deepEqual(decodeTensorBundle(shifted)['d']!.data, Float64Array.of(Math.PI));
  });

  it('refuses bytes that are not a whole bundle', () => {
    const bundle = encodeTensorBundle({ f: tensors['f']! });
    const refused = (pattern: RegExp) => (error: unknown) => error instanceof KilnError && error.code === 'KILN_HANDLER_OUTPUT_INVALID' && pattern.test(error.message);
    assert.throws(() => decodeTensorBundle(new Uint8Array(2)), refused(/too short/));
    assert.throws(() => decodeTensorBundle(bundle.subarray(0, 10)), refused(/header runs past/));
    assert.throws(() => decodeTensorBundle(bundle.subarray(0, bundle.length - 4)), refused(/'f' runs past the end/));
    const garbled = bundle.slice();
    garbled[4] = 0x7b; // '{' where the header's '[' was
    assert.throws(() => decodeTensorBundle(garbled), refused(/not JSON/));
  });
});
