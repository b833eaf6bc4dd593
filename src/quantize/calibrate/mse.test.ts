import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRandom, normal, uniform } from '../../../test/fixtures/random.js';
import { StreamingHistogram } from './histogram.js';
import { createMseCalibrator, mseRange } from './mse.js';
import type { QuantGrid, TensorRange } from './types.js';

const UINT8: QuantGrid = { qmin: 0, qmax: 255, symmetric: false };
const INT8_SYMMETRIC: QuantGrid = { qmin: -127, qmax: 127, symmetric: true };

function histogramOf(values: Float32Array, bins = 2048): StreamingHistogram {
  const histogram = new StreamingHistogram(bins);
  histogram.observe(values);
  return histogram;
}

/** The objective evaluated bin by bin, straight from its definition (asymmetric). */
function objective(histogram: StreamingHistogram, a: number, b: number, steps: number): number {
  const step = (b - a) / steps;
  let error = 0;
  const sides = [
    { side: histogram.negative(), sign: -1, extreme: -histogram.min, cut: -a },
    { side: histogram.positive(), sign: 1, extreme: histogram.max, cut: b },
  ];
  for (const { side, sign, extreme, cut } of sides) {
    side.counts.forEach((count, bin) => {
      const inBin = sign === 1 && bin === 0 ? count - histogram.zeros : count;
      if (inBin === 0) return;
      const magnitude = Math.min((bin + 0.5) * side.binWidth, extreme);
      // Thresholds are bin edges or the extreme: a bin is clipped when it starts at or past the cut.
      if (bin * side.binWidth >= cut && cut < extreme) error += inBin * (magnitude - cut) ** 2;
      else error += (inBin * step * step) / 12;
    });
  }
  // Values equal to an end of the range are on the grid.
  if (a === histogram.min && a < 0) error -= (histogram.atMin * step * step) / 12;
  if (b === histogram.max && b > 0) error -= (histogram.atMax * step * step) / 12;
  return error;
}

/** The symmetric objective on the |x| histogram for the range [−t, t]. */
function symmetricObjective(histogram: StreamingHistogram, t: number, steps: number): number {
  const { counts, binWidth } = histogram.magnitudes();
  const extreme = Math.max(-histogram.min, histogram.max);
  const step = (2 * t) / steps;
  let error = 0;
  counts.forEach((count, bin) => {
    const inBin = bin === 0 ? count - histogram.zeros : count;
    const magnitude = Math.min((bin + 0.5) * binWidth, extreme);
    if (bin * binWidth >= t && t < extreme) error += inBin * (magnitude - t) ** 2;
    else error += (inBin * step * step) / 12;
  });
  return error;
}

/** Fake-quantizes values with an asymmetric uint8 grid on [min(a,0), max(b,0)]; mean squared error. */
function realError(values: Float32Array, range: TensorRange): number {
  const low = Math.min(range.min, 0);
  const high = Math.max(range.max, 0);
  const scale = (high - low) / 255;
  const zero = Math.round(-low / scale);
  let sum = 0;
  for (const value of values) {
    const q = Math.min(255, Math.max(0, Math.round(value / scale) + zero));
    sum += (value - (q - zero) * scale) ** 2;
  }
  return sum / values.length;
}

describe('mseRange', () => {
  it('finds the least objective over every pair of candidate edges (asymmetric)', () => {
    const random = createRandom(31);
    const values = Float32Array.from(normal(random, 4000), (value, index) => (index % 3 === 0 ? value * 4 : value) + 0.5);
    const histogram = histogramOf(values, 64);
    const found = mseRange(histogram, UINT8);
    const best = objective(histogram, found.min, found.max, 255);
    const negative = histogram.negative();
    const positive = histogram.positive();
    const lows = [0, ...Array.from({ length: 64 }, (_, k) => -k * negative.binWidth).filter((a) => a > histogram.min), histogram.min];
    const highs = [0, ...Array.from({ length: 64 }, (_, k) => k * positive.binWidth).filter((b) => b < histogram.max), histogram.max];
    for (const a of lows) for (const b of highs) assert.ok(objective(histogram, a, b, 255) >= best - 1e-9, `[${a}, ${b}] beats [${found.min}, ${found.max}]`);
    assert.ok(found.min < histogram.min * 0.3 && found.max < histogram.max, 'the heavy tails are clipped');
  });

  it('searches b = −a only for a symmetric grid, over every candidate edge', () => {
    const values = normal(createRandom(2), 50_000);
    values[0] = 25;
    values[1] = -21;
    const histogram = histogramOf(values, 256);
    const range = mseRange(histogram, INT8_SYMMETRIC);
    assert.equal(range.min, -range.max);
    const best = symmetricObjective(histogram, range.max, 254);
    const { binWidth } = histogram.magnitudes();
    for (let k = 0; k * binWidth < 25; k++) assert.ok(symmetricObjective(histogram, k * binWidth, 254) >= best - 1e-9, `±${k * binWidth}`);
    assert.ok(symmetricObjective(histogram, 25, 254) >= best - 1e-9);
  });

  it('nearly keeps the whole range of a uniform tensor', () => {
    const range = mseRange(histogramOf(uniform(createRandom(4), 100_000, -1, 3)), UINT8);
    assert.ok(range.min <= -0.98 && range.max >= 2.97, JSON.stringify(range));
  });

  it('lands within 3 % of the real least-error range, and beats min-max on a Laplace tensor', () => {
    const random = createRandom(9);
    const laplace = Float32Array.from({ length: 30_000 }, () => {
      const u = random() - 0.5;
      return -Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
    });
    // A lone outlier is cheaper to keep than to clip ((9 − 4)² outweighs the finer step), so
    // min-max is near the best here; MSE must still not do worse.
    const gaussian = normal(random, 30_000);
    gaussian[0] = 9;
    const gains = [0.95, 1];
    for (const [index, values] of [laplace, gaussian].entries()) {
      const histogram = histogramOf(values);
      const chosen = realError(values, mseRange(histogram, UINT8));
      let best = Infinity;
      for (let shrink = 0.3; shrink <= 1; shrink += 0.01) {
        best = Math.min(best, realError(values, { min: histogram.min * shrink, max: histogram.max * shrink }));
      }
      assert.ok(chosen < 1.03 * best, `${chosen} vs best ${best}`);
      const minmax = realError(values, { min: histogram.min, max: histogram.max });
      assert.ok(chosen <= gains[index]! * minmax, `${chosen} vs min-max ${minmax}`);
    }
  });

  it('keeps a post-ReLU tensor at [0, b] and never counts exact zeros as rounding error', () => {
    const values = normal(createRandom(3), 60_000).map((value) => Math.max(0, value));
    for (const grid of [UINT8, INT8_SYMMETRIC]) {
      const range = mseRange(histogramOf(values), grid);
      assert.equal(range.min, 0);
      assert.ok(range.max > 2 && range.max <= values.reduce((a, b) => Math.max(a, b)), `max ${range.max}`);
    }
    // Only zeros and one value: the full range costs nothing for the zeros, so it is kept.
    const sparse = new Float32Array(10_000);
    sparse[7] = 5;
    assert.deepEqual(mseRange(histogramOf(sparse), UINT8), { min: 0, max: 5 });
  });

  it('always contains 0; constant, zero and single-value tensors', () => {
    assert.deepEqual(mseRange(histogramOf(new Float32Array(100).fill(2.5)), UINT8), { min: 0, max: 2.5 });
    assert.deepEqual(mseRange(histogramOf(new Float32Array(100).fill(-2.5)), UINT8), { min: -2.5, max: 0 });
    assert.deepEqual(mseRange(histogramOf(new Float32Array(100).fill(2.5)), INT8_SYMMETRIC), { min: 0, max: 2.5 });
    assert.deepEqual(mseRange(histogramOf(new Float32Array(100)), UINT8), { min: 0, max: 0 });
    assert.deepEqual(mseRange(histogramOf(new Float32Array(100)), INT8_SYMMETRIC), { min: 0, max: 0 });
    assert.deepEqual(mseRange(histogramOf(Float32Array.of(-0.3)), INT8_SYMMETRIC), { min: Math.fround(-0.3), max: 0 });
    assert.deepEqual(mseRange(histogramOf(Float32Array.of(-0.3)), UINT8), { min: Math.fround(-0.3), max: 0 });
    // Two values exactly at ±c: both ends of a symmetric grid.
    assert.deepEqual(mseRange(histogramOf(Float32Array.of(-0.5, 0.5, 0.5)), INT8_SYMMETRIC), { min: -0.5, max: 0.5 });
  });
});

describe('createMseCalibrator', () => {
  it('is deterministic and independent of batching', () => {
    const values = Float32Array.from(normal(createRandom(12), 40_000, 3), (value) => value * Math.abs(value));
    const ranges = [40_000, 1000, 333].map((size) => {
      const calibrator = createMseCalibrator({ method: 'mse', bins: 2048 });
      for (let start = 0; start < values.length; start += size) calibrator.observe('x', values.subarray(start, start + size));
      return [calibrator.ranges(UINT8), calibrator.ranges(INT8_SYMMETRIC)];
    });
    assert.deepEqual(ranges[1], ranges[0]);
    assert.deepEqual(ranges[2], ranges[0]);
  });
});
