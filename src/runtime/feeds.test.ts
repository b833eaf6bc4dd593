import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KilnError } from '../core/errors.js';
import { float16ToFloat32 } from '../onnx/index.js';
import { concreteShape, makeFeeds, type TensorSignature } from './feeds.js';
import { rejectsWith } from '../../test/fixtures/errors.js';


const SIGNATURES: readonly TensorSignature[] = [
  { name: 'image', type: 'float32', shape: ['batch', 4, 8] },
  { name: 'weights', type: 'float64', shape: [500] },
  { name: 'half', type: 'float16', shape: [2000] },
  { name: 'ids', type: 'int64', shape: ['batch', 300] },
  { name: 'uids', type: 'uint64', shape: [100] },
  { name: 'i32', type: 'int32', shape: [300] },
  { name: 'u32', type: 'uint32', shape: [100] },
  { name: 'i16', type: 'int16', shape: [100] },
  { name: 'u16', type: 'uint16', shape: [100] },
  { name: 'i8', type: 'int8', shape: [300] },
  { name: 'u8', type: 'uint8', shape: [100] },
  { name: 'mask', type: 'bool', shape: [1000] },
];

describe('makeFeeds', () => {
  it('builds one tensor per input, of the signature type and shape', () => {
    const feeds = makeFeeds(SIGNATURES, { dims: { batch: 2 } });
    assert.deepEqual(Object.keys(feeds), SIGNATURES.map((input) => input.name));
    assert.deepEqual(feeds['image']!.dims, [2, 4, 8]);
    assert.equal(feeds['image']!.type, 'float32');
    assert.ok(feeds['image']!.data instanceof Float32Array);
    assert.equal(feeds['image']!.data.length, 64);
    assert.ok(feeds['weights']!.data instanceof Float64Array);
    assert.ok(feeds['half']!.data instanceof Uint16Array);
    assert.ok(feeds['ids']!.data instanceof BigInt64Array);
    assert.equal(feeds['ids']!.data.length, 600);
    assert.ok(feeds['uids']!.data instanceof BigUint64Array);
    assert.ok(feeds['i8']!.data instanceof Int8Array);
    assert.ok(feeds['mask']!.data instanceof Uint8Array);
    assert.equal(feeds['mask']!.type, 'bool');
  });

  it('is deterministic per seed, defaults to seed 1, and differs across seeds', () => {
    // `batch` would override the first dim of every input, so the symbolic one is set by name.
    const options = { dims: { batch: 2 } };
    const first = makeFeeds(SIGNATURES, { ...options, seed: 7 });
    const again = makeFeeds(SIGNATURES, { ...options, seed: 7 });
    assert.deepEqual(first, again);
    assert.deepEqual(makeFeeds(SIGNATURES, options), makeFeeds(SIGNATURES, { ...options, seed: 1 }));
    const other = makeFeeds(SIGNATURES, { ...options, seed: 8 });
    for (const name of ['image', 'weights', 'half', 'ids', 'mask']) {
      assert.notDeepEqual(first[name]!.data, other[name]!.data, `${name} should change with the seed`);
    }
  });

  it('draws floats in [-1, 1) with both signs', () => {
    const feeds = makeFeeds(SIGNATURES, { dims: { batch: 4 }, seed: 3 });
    for (const name of ['image', 'weights']) {
      const values = Array.from(feeds[name]!.data as Float32Array | Float64Array);
      assert.ok(values.every((value) => value >= -1 && value < 1), `${name} out of [-1, 1)`);
      assert.ok(values.some((value) => value < -0.5) && values.some((value) => value > 0.5), `${name} spans the range`);
    }
  });

  it('draws integers in [0, 10), covering the range', () => {
    const feeds = makeFeeds(SIGNATURES, { dims: { batch: 2 }, seed: 3 });
    for (const name of ['ids', 'uids', 'i32', 'u32', 'i16', 'u16', 'i8', 'u8']) {
      const values = Array.from(feeds[name]!.data as ArrayLike<number | bigint>, Number);
      assert.ok(values.every((value) => Number.isInteger(value) && value >= 0 && value < 10), `${name} out of [0, 10)`);
      assert.ok(values.includes(0) && values.includes(9), `${name} reaches both ends`);
    }
  });

  it('draws booleans as 0 and 1, both present', () => {
    const values = Array.from(makeFeeds(SIGNATURES, { dims: { batch: 1 } })['mask']!.data as Uint8Array);
    assert.ok(values.every((value) => value === 0 || value === 1));
    const ones = values.filter((value) => value === 1).length;
    assert.ok(ones > 400 && ones < 600, `${ones} ones in 1000`);
  });

  it('draws float16 bits that decode to finite values in [-1, 1]', () => {
    const bits = Array.from(makeFeeds(SIGNATURES, { dims: { batch: 1 }, seed: 11 })['half']!.data as Uint16Array);
    const values = bits.map(float16ToFloat32);
    assert.ok(values.every((value) => Number.isFinite(value) && value >= -1 && value <= 1));
    assert.ok(values.some((value) => value < -0.5) && values.some((value) => value > 0.5), 'both signs, whole range');
    assert.ok(new Set(bits).size > 1000, 'bits are not a handful of repeated values');
  });

  it('generates strings for string inputs', () => {
    const feeds = makeFeeds([{ name: 'text', type: 'string', shape: [3] }]);
    const data = feeds['text']!.data as string[];
    assert.equal(data.length, 3);
    assert.ok(data.every((value) => typeof value === 'string' && value.length > 0));
  });

  it('propagates shape errors from concreteShape', () => {
    assert.throws(
      () => makeFeeds([{ name: 'tokens', type: 'int64', shape: ['batch', 'sequence'] }], { batch: 1, label: 'bert.onnx' }),
      rejectsWith('KILN_RUNTIME_INPUT_INVALID', /^bert\.onnx: /, /'tokens'/, /'sequence'/),
    );
  });
});

describe('concreteShape', () => {
  const image: TensorSignature = { name: 'image', type: 'float32', shape: ['batch', 3, 'height', 'width'] };

  it('keeps fixed dims', () => {
    assert.deepEqual(concreteShape({ name: 'x', type: 'float32', shape: [2, 3, 4] }), [2, 3, 4]);
    assert.deepEqual(concreteShape({ name: 'scalar', type: 'float32', shape: [] }), []);
  });

  it('overrides the first dim with batch, fixed or not', () => {
    assert.deepEqual(concreteShape({ name: 'x', type: 'float32', shape: ['batch', 3] }, { batch: 4 }), [4, 3]);
    assert.deepEqual(concreteShape({ name: 'x', type: 'float32', shape: [1, 3] }, { batch: 8 }), [8, 3]);
  });

  it('fills symbolic dims by name, and others from the * wildcard', () => {
    assert.deepEqual(concreteShape(image, { batch: 2, dims: { height: 32, width: 48 } }), [2, 3, 32, 48]);
    assert.deepEqual(concreteShape(image, { dims: { batch: 5, '*': 16 } }), [5, 3, 16, 16]);
    assert.deepEqual(concreteShape(image, { dims: { '*': 7, width: 9 } }), [7, 3, 7, 9]);
    assert.deepEqual(concreteShape({ name: 'x', type: 'float32', shape: [undefined, 2] }, { dims: { '*': 6 } }), [6, 2]);
  });

  it('lets batch win over a dim given by name', () => {
    assert.deepEqual(concreteShape(image, { batch: 3, dims: { batch: 9, '*': 1 } }), [3, 3, 1, 1]);
  });

  it('uses explicit shapes over dims and batch, for the input they name only', () => {
    const options = { batch: 2, dims: { '*': 10 }, shapes: { image: [1, 3, 64, 32] } };
    assert.deepEqual(concreteShape(image, options), [1, 3, 64, 32]);
    assert.deepEqual(concreteShape({ ...image, name: 'other' }, options), [2, 3, 10, 10]);
  });

  it('returns a copy of the explicit shape', () => {
    const explicit = [1, 3, 8, 8];
    const shape = concreteShape(image, { shapes: { image: explicit } });
    shape[0] = 99;
    assert.equal(explicit[0], 1);
  });

  it('rejects an explicit shape of the wrong rank, naming the input, after the label', () => {
    assert.throws(
      () => concreteShape(image, { label: 'resnet.onnx', shapes: { image: [3, 224, 224] } }),
      (error) => {
        rejectsWith('KILN_RUNTIME_INPUT_INVALID', /^resnet\.onnx: /, /\[3, 224, 224\]/, /input 'image'/)(error);
        assert.equal((error as KilnError).details['input'], 'image');
        return true;
      },
    );
  });

  it('rejects an explicit shape that contradicts a fixed dim', () => {
    assert.throws(
      () => concreteShape(image, { label: 'resnet.onnx', shapes: { image: [1, 4, 224, 224] } }),
      rejectsWith('KILN_RUNTIME_INPUT_INVALID', /^resnet\.onnx: shape \[1, 4, 224, 224\] does not fit input 'image' of shape \[batch, 3, height, width\]/),
    );
  });

  it('puts no prefix on messages when there is no label', () => {
    assert.throws(() => concreteShape(image, { shapes: { image: [1] } }), rejectsWith('KILN_RUNTIME_INPUT_INVALID', /^shape \[1\] does not fit/));
  });

  it('rejects a dynamic dim with no value, with a hint naming the dim', () => {
    assert.throws(
      () => concreteShape(image, { batch: 1, dims: { height: 224 }, label: 'resnet.onnx' }),
      (error) => {
        rejectsWith('KILN_RUNTIME_INPUT_INVALID', /^resnet\.onnx: /, /input 'image'/, /'width'/, /--dim width=1/)(error);
        assert.deepEqual((error as KilnError).details, { input: 'image', axis: 3 });
        return true;
      },
    );
  });

  it('hints at the wildcard for an unnamed unknown dim, by axis', () => {
    assert.throws(
      () => concreteShape({ name: 'x', type: 'float32', shape: [1, undefined] }),
      rejectsWith('KILN_RUNTIME_INPUT_INVALID', /at axis 1/, /--dim \*=1/),
    );
  });
});
