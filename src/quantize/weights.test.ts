import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { quantRange } from './math.js';
import { minimumWeightScales, quantizeBias, quantizeWeight, weightSqnrDb } from './weights.js';

const W8 = quantRange('int8', { symmetric: true });

describe('quantizeWeight', () => {
  it('gives each output channel of a conv weight its own symmetric scale (axis 0)', () => {
    // [2, 1, 1, 2]: channel 0 spans ±1.27, channel 1 spans ±0.127.
    const weight = quantizeWeight(Float32Array.of(1.27, -0.635, 0.127, -0.0635), [2, 1, 1, 2], 0, W8);
    assert.deepEqual([...weight.scales], [Math.fround(0.01), Math.fround(0.001)]);
    assert.deepEqual([...weight.zeroPoints], [0, 0]);
    assert.deepEqual([...weight.data], [127, -64, 127, -64], '-63.5 rounds half to even');
  });

  it('uses one scale for the whole tensor when axis is undefined', () => {
    const weight = quantizeWeight(Float32Array.of(1.27, -0.635, 0.127, -0.0635), [2, 2], undefined, W8);
    assert.deepEqual([...weight.scales], [Math.fround(0.01)]);
    assert.deepEqual([...weight.data], [127, -64, 13, -6]);
  });

  it('quantizes along a middle axis (Gemm B [K, N], axis 1: one scale per column)', () => {
    const weight = quantizeWeight(Float32Array.of(1, 10, -2, 5), [2, 2], 1, W8);
    assert.deepEqual([...weight.scales], [Math.fround(2 / 127), Math.fround(10 / 127)]);
    assert.deepEqual([...weight.data], [64, 127, -127, 64]);
  });

  it('gives an all-zero channel scale 1 and zeros', () => {
    const weight = quantizeWeight(Float32Array.of(0, 0, 1, -1), [2, 2], 0, W8);
    assert.equal(weight.scales[0], 1);
    assert.deepEqual([...weight.data.subarray(0, 2)], [0, 0]);
  });

  it('widens a channel scale when asked (bias overflow guard)', () => {
    const minScales = Float64Array.of(0, 0.5);
    const weight = quantizeWeight(Float32Array.of(1, 1, 0.001, 0.001), [2, 2], 0, W8, minScales);
    assert.equal(weight.scales[0], Math.fround(1 / 127));
    assert.equal(weight.scales[1], 0.5);
    assert.deepEqual([...weight.data.subarray(2)], [0, 0]);
  });
});

describe('quantizeBias', () => {
  it('divides by input scale × weight scale per channel and rounds half to even', () => {
    const bias = quantizeBias(Float32Array.of(0.25, -0.75, 0.5), 0.5, Float32Array.of(0.1, 1, 0.2));
    assert.deepEqual([...bias.scales], [Math.fround(0.05), 0.5, Math.fround(0.1)]);
    assert.deepEqual([...bias.data], [5, -2, 5], '-1.5 → -2 (half to even)');
    assert.equal(bias.clipped, 0);
  });

  it('returns one scale with per-tensor weights', () => {
    const bias = quantizeBias(Float32Array.of(1, 2), 0.5, Float32Array.of(0.5));
    assert.deepEqual([...bias.scales], [0.25]);
    assert.deepEqual([...bias.data], [4, 8]);
  });

  it('clips to int32 and counts it, and minimumWeightScales prevents that', () => {
    const inputScale = 1e-3;
    const tiny = Float32Array.of(1e-9);
    const clipped = quantizeBias(Float32Array.of(10), inputScale, tiny);
    assert.equal(clipped.clipped, 1);
    assert.equal(clipped.data[0], 2 ** 31 - 1);
    const minimum = minimumWeightScales(Float32Array.of(10), inputScale);
    const safe = quantizeBias(Float32Array.of(10), inputScale, Float32Array.of(minimum[0]!));
    assert.equal(safe.clipped, 0);
  });
});

describe('weightSqnrDb', () => {
  it('is infinite for values on the grid and about 6 dB per bit otherwise', () => {
    const exact = Float32Array.of(1.27, -0.635, 0.127, -0.0635);
    const onGrid = Float32Array.of(0.01 * 127, 0.01 * -64, 0.001 * 127, 0.001 * -64).map(Math.fround);
    assert.equal(weightSqnrDb(onGrid, [2, 2], quantizeWeight(onGrid, [2, 2], 0, W8)), Number.POSITIVE_INFINITY);
    const random = Float32Array.from({ length: 4096 }, (_, index) => Math.sin(index * 12.9898) * 0.5);
    const db = weightSqnrDb(random, [64, 64], quantizeWeight(random, [64, 64], 0, W8));
    assert.ok(db > 35 && db < 50, `${db} dB`);
    assert.ok(weightSqnrDb(exact, [2, 2], quantizeWeight(exact, [2, 2], 0, W8)) > 40);
  });
});
