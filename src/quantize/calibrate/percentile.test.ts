import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRandom, normal } from '../../../test/fixtures/random.js';
import { StreamingHistogram } from './histogram.js';
import { createPercentileCalibrator, percentileRange, signedQuantile } from './percentile.js';

const SYMMETRIC = { qmin: -127, qmax: 127, symmetric: true };
const ASYMMETRIC = { qmin: 0, qmax: 255, symmetric: false };

function histogramOf(values: Float32Array, bins = 2048): StreamingHistogram {
  const histogram = new StreamingHistogram(bins);
  histogram.observe(values);
  return histogram;
}

/** n values evenly spread over [low, high) (midpoints of n equal cells). */
function evenly(n: number, low: number, high: number): Float32Array {
  return Float32Array.from({ length: n }, (_, index) => low + ((index + 0.5) / n) * (high - low));
}

function close(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} is not within ${tolerance} of ${expected}`);
}

describe('percentileRange', () => {
  it('symmetric: the |x| quantile at p/100, interpolated inside its bin', () => {
    const range = percentileRange(histogramOf(evenly(100_000, -1, 1)), SYMMETRIC, 99);
    close(range.max, 0.99, 1e-4, 'max');
    close(range.min, -0.99, 1e-4, 'min');
  });

  it('asymmetric: cuts (100 − p)/200 of the mass from each tail', () => {
    const range = percentileRange(histogramOf(evenly(100_000, -1, 3)), ASYMMETRIC, 99);
    // 0.5 % of a width-4 uniform is 0.02 at each end.
    close(range.min, -0.98, 1e-3, 'min');
    close(range.max, 2.98, 1e-3, 'max');
  });

  it('drops rare outliers of a Gaussian at the default p = 99.999', () => {
    const values = normal(createRandom(7), 400_000);
    values[10] = 60;
    values[20] = -45;
    const histogram = histogramOf(values);
    const symmetric = percentileRange(histogram, SYMMETRIC, 99.999);
    // 4 of 400 000 beyond: two outliers and about two Gaussian values above 4.4σ.
    assert.ok(symmetric.max > 4 && symmetric.max < 5.5, `max ${symmetric.max}`);
    assert.equal(symmetric.min, -symmetric.max);
    const asymmetric = percentileRange(histogram, ASYMMETRIC, 99.999);
    assert.ok(asymmetric.max > 4 && asymmetric.max < 5.5 && asymmetric.min < -4 && asymmetric.min > -5.5, JSON.stringify(asymmetric));
  });

  it('keeps post-ReLU tensors at [0, t] on both grids', () => {
    const values = normal(createRandom(3), 50_000).map((value) => Math.max(0, value));
    for (const grid of [SYMMETRIC, ASYMMETRIC]) {
      const range = percentileRange(histogramOf(values), grid, 99.9);
      assert.equal(range.min, 0);
      assert.ok(range.max > 2.5 && range.max < values.reduce((a, b) => Math.max(a, b)), `max ${range.max}`);
    }
  });

  it('clamps to the observed range: constant, zero and single-value tensors', () => {
    for (const grid of [SYMMETRIC, ASYMMETRIC]) {
      assert.deepEqual(percentileRange(histogramOf(new Float32Array(100).fill(2.5)), grid, 99.999), { min: 2.5, max: 2.5 });
      assert.deepEqual(percentileRange(histogramOf(new Float32Array(100).fill(-0.75)), grid, 90), { min: -0.75, max: -0.75 });
      assert.deepEqual(percentileRange(histogramOf(new Float32Array(100)), grid, 99), { min: 0, max: 0 });
      assert.deepEqual(percentileRange(histogramOf(Float32Array.of(-3)), grid, 99.999), { min: -3, max: -3 });
    }
  });

  it('p = 100 keeps the whole observed range', () => {
    const values = normal(createRandom(9), 10_000);
    const min = values.reduce((a, b) => Math.min(a, b));
    const max = values.reduce((a, b) => Math.max(a, b));
    assert.deepEqual(percentileRange(histogramOf(values), ASYMMETRIC, 100), { min, max });
  });
});

describe('signedQuantile', () => {
  it('walks from the most negative bin up through the positive side', () => {
    const histogram = histogramOf(Float32Array.of(-3.5, -0.5, 0.5, 2.5), 8);
    // Bins are 0.5 wide on both sides (widths 4); a value is spread evenly over its bin.
    assert.equal(signedQuantile(histogram, 0.5), -3.75); // half of [−4, −3.5)
    assert.equal(signedQuantile(histogram, 1.5), -0.75); // half of [−1, −0.5)
    assert.equal(signedQuantile(histogram, 2.5), 0.75); // half of [0.5, 1)
    assert.equal(signedQuantile(histogram, 3.5), 2.75); // half of [2.5, 3)
    assert.equal(signedQuantile(histogram, 4), 3);
  });
});

describe('createPercentileCalibrator', () => {
  it('gives the same ranges for one batch as for many', () => {
    const values = normal(createRandom(4), 30_000, 2);
    const one = createPercentileCalibrator({ method: 'percentile', percentile: 99.9, bins: 2048 });
    one.observe('x', values);
    const many = createPercentileCalibrator({ method: 'percentile', percentile: 99.9, bins: 2048 });
    for (let start = 0; start < values.length; start += 1000) many.observe('x', values.subarray(start, start + 1000));
    for (const grid of [SYMMETRIC, ASYMMETRIC]) assert.deepEqual(many.ranges(grid), one.ranges(grid));
  });
});
