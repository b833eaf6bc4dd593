import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRandom, normal } from '../../../test/fixtures/random.js';
import { binMagnitudes, scanExtremes } from './kernels.js';

/** Plain references: array methods and Math.floor, one concern per pass. */
function referenceExtremes(values: Float32Array) {
  const finite = [...values].filter(Number.isFinite);
  const min = finite.length ? Math.min(...finite) + 0 : Infinity;
  const max = finite.length ? Math.max(...finite) + 0 : -Infinity;
  return { min, max, atMin: finite.filter((value) => value === min).length, atMax: finite.filter((value) => value === max).length, nonFinite: values.length - finite.length };
}

function referenceBins(values: Float32Array, bins: number, positiveWidth: number, negativeWidth: number) {
  const positive = new Float64Array(bins);
  const negative = new Float64Array(bins);
  let zeros = 0;
  for (const value of values) {
    if (value > 0) positive[Math.min(bins - 1, Math.floor((value / positiveWidth) * bins))]!++;
    else if (value < 0) negative[Math.min(bins - 1, Math.floor((-value / negativeWidth) * bins))]!++;
    else zeros++;
  }
  return { positive, negative, zeros };
}

describe('scanExtremes', () => {
  it('matches the reference on random data with ties, zeros of both signs and non-finite values', () => {
    const random = createRandom(3);
    for (let trial = 0; trial < 20; trial++) {
      const values = normal(random, 500 + trial, 2);
      // Quantize to a coarse grid so extremes repeat, then sprinkle specials.
      for (let index = 0; index < values.length; index++) values[index] = Math.round(values[index]! * 2) / 2;
      values[trial] = -0;
      if (trial % 3 === 0) values[trial + 7] = NaN;
      if (trial % 4 === 0) values[trial + 9] = -Infinity;
      if (trial % 5 === 0) values[trial + 11] = Infinity;
      assert.deepEqual(scanExtremes(values), referenceExtremes(values));
    }
  });

  it('reads −0 as 0 and an empty or all-NaN batch as no extremes', () => {
    assert.deepEqual(scanExtremes(Float32Array.of(-0, -0)), { min: 0, max: 0, atMin: 2, atMax: 2, nonFinite: 0 });
    assert.ok(Object.is(scanExtremes(Float32Array.of(-0)).min, 0));
    assert.deepEqual(scanExtremes(new Float32Array(0)), { min: Infinity, max: -Infinity, atMin: 0, atMax: 0, nonFinite: 0 });
    assert.deepEqual(scanExtremes(Float32Array.of(NaN)), { min: Infinity, max: -Infinity, atMin: 0, atMax: 0, nonFinite: 1 });
  });
});

describe('binMagnitudes', () => {
  it('matches Math.floor binning at power-of-two widths, extremes in the last bins, for several bin counts', () => {
    const random = createRandom(9);
    for (const bins of [2, 7, 1000, 2048, 65_536]) {
      const values = normal(random, 4000, 3);
      values[5] = 0;
      values[6] = -0;
      values[7] = 1e-45; // float32's smallest subnormal
      const positiveWidth = 2 ** Math.ceil(Math.log2(Math.max(...values) * 1.0000001));
      const negativeWidth = 2 ** Math.ceil(Math.log2(-Math.min(...values) * 1.0000001));
      const positive = new Float64Array(bins);
      const negative = new Float64Array(bins);
      const zeros = binMagnitudes(values, positive, negative, bins / positiveWidth, bins / negativeWidth);
      const expected = referenceBins(values, bins, positiveWidth, negativeWidth);
      assert.equal(zeros, expected.zeros);
      assert.deepEqual(positive, expected.positive, `positive side, ${bins} bins`);
      assert.deepEqual(negative, expected.negative, `negative side, ${bins} bins`);
    }
  });

  it('adds to the counts it is given instead of resetting them', () => {
    const positive = Float64Array.of(5, 0);
    const negative = Float64Array.of(0, 1);
    assert.equal(binMagnitudes(Float32Array.of(0.25, 0.75, -0.75, 0), positive, negative, 2, 2), 1);
    assert.deepEqual([...positive], [6, 1]);
    assert.deepEqual([...negative], [0, 2]);
  });
});
