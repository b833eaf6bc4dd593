import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRandom, normal, uniform } from '../../../test/fixtures/random.js';
import { BODY_MASS, entropyBins, entropyRange, createEntropyCalibrator } from './entropy.js';
import { StreamingHistogram } from './histogram.js';

/** The algorithm written out with whole arrays, as described (slow, obvious). */
function referenceBins(counts: Float64Array, levels: number): number {
  let occupied = counts.length;
  while (occupied > 0 && counts[occupied - 1] === 0) occupied--;
  const nonEmpty = (values: ArrayLike<number>): number => Array.prototype.filter.call(values, (value) => value !== 0).length;
  const total = counts.reduce((a, b) => a + b, 0);
  if (nonEmpty(counts) <= levels) return occupied;
  const smooth = (values: number[]): number[] => {
    const zeros = values.filter((value) => value === 0).length;
    const shave = (1e-4 * zeros) / (values.length - zeros);
    const smoothed = values.map((value) => (value === 0 ? 1e-4 : value - shave));
    const sum = smoothed.reduce((a, b) => a + b, 0);
    return smoothed.map((value) => value / sum);
  };
  let best = occupied;
  let bestDivergence = Infinity;
  for (let kept = levels; kept <= occupied; kept++) {
    const inside = counts.subarray(0, kept);
    // The resolution and body rules: `levels` non-empty bins and BODY_MASS of the mass kept.
    if (nonEmpty(inside) < levels || inside.reduce((a, b) => a + b, 0) < BODY_MASS * total) continue;
    const p = [...inside];
    p[kept - 1]! += [...counts.subarray(kept)].reduce((a, b) => a + b, 0);
    const q = new Array<number>(kept).fill(0);
    for (let group = 0; group < levels; group++) {
      const start = Math.floor((group * kept) / levels);
      const stop = Math.floor(((group + 1) * kept) / levels);
      const mass = [...counts.subarray(start, stop)].reduce((a, b) => a + b, 0);
      const occupiedInGroup = nonEmpty(p.slice(start, stop));
      for (let bin = start; bin < stop; bin++) if (p[bin] !== 0) q[bin] = mass / occupiedInGroup;
    }
    const ps = smooth(p);
    const qs = smooth(q);
    const divergence = ps.reduce((sum, value, bin) => sum + value * Math.log(value / qs[bin]!), 0);
    if (divergence < bestDivergence - 1e-12) {
      bestDivergence = divergence;
      best = kept;
    }
  }
  return best;
}

function histogramOf(values: Float32Array, bins = 2048): StreamingHistogram {
  const histogram = new StreamingHistogram(bins);
  histogram.observe(values);
  return histogram;
}

/** The |x| counts entropyBins takes: exact zeros out of bin 0. */
function nonZeroCounts(histogram: StreamingHistogram): Float64Array {
  const { counts } = histogram.magnitudes();
  counts[0] = counts[0]! - histogram.zeros;
  return counts;
}

/** Share of `values` with |x| beyond the range. */
function clippedShare(values: Float32Array, range: { min: number; max: number }): number {
  return values.filter((value) => value > range.max || value < range.min).length / values.length;
}

/** |N(0, 2)| plus 8 spikes of 6 000 equal values in its body, as flat image regions give. */
function spikyBody(): Float32Array {
  const random = createRandom(9);
  const values = [...normal(random, 60_000).map((value) => Math.abs(value) * 2)];
  for (let spike = 0; spike < 8; spike++) values.push(...new Array<number>(6_000).fill(0.2 + 1.6 * random()));
  return Float32Array.from(values);
}

describe('entropyBins', () => {
  it('matches the algorithm written out with whole arrays', () => {
    const random = createRandom(21);
    const cases = [
      normal(random, 20_000),
      normal(random, 5_000).map((value) => Math.max(0, value)),
      Float32Array.from(normal(random, 5_000), (value) => value ** 3),
      uniform(random, 3_000, -1, 1),
      uniform(random, 3_000, 0.3, 0.9),
      spikyBody(),
    ];
    for (const values of cases) {
      const counts = nonZeroCounts(histogramOf(values, 512));
      assert.equal(entropyBins(counts, 32), referenceBins(counts, 32));
    }
  });

  it('keeps all bins when no more than `levels` are occupied', () => {
    const counts = new Float64Array(2048);
    counts[0] = 10;
    counts[100] = 3;
    assert.equal(entropyBins(counts, 128), 101);
    assert.equal(entropyBins(new Float64Array(2048), 128), 0);
    // Counted as non-empty bins, not by the last one's index: 120 bins away from 0 are kept
    // whole (cutting at the first one gives P = Q and KL = 0, which would win).
    const sparse = new Float64Array(2048);
    for (let pair = 0; pair < 60; pair++) {
      sparse[300 + 10 * pair] = 1_000;
      sparse[301 + 10 * pair] = 100;
    }
    assert.equal(entropyBins(sparse, 128), 300 + 10 * 59 + 2);
  });

  it('never stops before `levels` non-empty bins, even within the body', () => {
    // One bin holds 99.93 % of the mass: cutting right after it keeps the body but gives P = Q, KL ≈ 0.
    const counts = new Float64Array(2048);
    counts[300] = 1_000_000;
    for (let bin = 301; bin < 1000; bin++) counts[bin] = 1;
    assert.ok(entropyBins(counts, 128) >= 300 + 128, `kept ${entropyBins(counts, 128)}`);
  });

  it('clips a long tail but keeps most of a uniform distribution', () => {
    const heavy = histogramOf(Float32Array.from(normal(createRandom(8), 100_000), (value) => value ** 3)).magnitudes();
    const kept = entropyBins(heavy.counts, 128);
    const occupied = heavy.counts.findLastIndex((count) => count > 0) + 1;
    assert.ok(kept < occupied / 3, `kept ${kept} of ${occupied}`);
    const flat = histogramOf(uniform(createRandom(8), 100_000, 0, 1)).magnitudes();
    assert.ok(entropyBins(flat.counts, 128) >= 0.9 * 2048, 'a uniform histogram should hardly be clipped');
  });
});

describe('entropyRange', () => {
  it('clips outliers of a Gaussian symmetrically, within the observed range', () => {
    const values = normal(createRandom(5), 200_000);
    values[3] = 40;
    values[4] = -30;
    values[5] = 40;
    const range = entropyRange(histogramOf(values), 128);
    assert.ok(range.max > 3 && range.max < 5, `max ${range.max}`);
    assert.equal(range.min, -range.max);
  });

  it('keeps a one-signed tensor away from 0 whole instead of collapsing onto its minimum', () => {
    // A HardSigmoid output: all the mass sits at |x| ≥ 0.12, far above the first candidates.
    const values = uniform(createRandom(1), 100_000, 0.12, 0.69);
    const range = entropyRange(histogramOf(values), 128);
    assert.equal(range.min, values.reduce((a, b) => Math.min(a, b)));
    assert.ok(range.max >= 0.6, `max ${range.max}`);
  });

  it('gives a post-ReLU tensor the threshold of its non-zero half', () => {
    const values = normal(createRandom(6), 100_000).map((value) => Math.max(0, value));
    const range = entropyRange(histogramOf(values), 128);
    assert.equal(range.min, 0);
    assert.ok(range.max >= 2.5 && range.max <= values.reduce((a, b) => Math.max(a, b)), `max ${range.max}`);
  });

  it('ignores exact zeros: more of them change nothing', () => {
    const values = normal(createRandom(7), 50_000).map((value) => Math.max(0, value));
    const padded = Float32Array.from([...values, ...new Float32Array(150_000)]);
    assert.deepEqual(entropyRange(histogramOf(padded), 128), entropyRange(histogramOf(values), 128));
  });

  it('keeps the body of a histogram with sharp spikes in it', () => {
    // Flat image regions give thousands of equal values; the bare KL cuts ~20 % of these.
    const values = spikyBody();
    const range = entropyRange(histogramOf(values), 128);
    assert.ok(clippedShare(values, range) <= 1 - BODY_MASS, `clipped ${clippedShare(values, range)}`);
  });

  it('clips the tail of a Laplace distribution moderately', () => {
    const random = createRandom(10);
    const values = Float32Array.from(uniform(random, 100_000, -0.5, 0.5), (u) => -Math.sign(u) * Math.log(1 - 2 * Math.abs(u)));
    const range = entropyRange(histogramOf(values), 128);
    const extreme = values.reduce((a, b) => Math.max(a, Math.abs(b)), 0);
    // b = 1: the 99.9th percentile of |x| is ln 1000 ≈ 6.9.
    assert.ok(range.max > 6.9 && range.max < 0.9 * extreme, `max ${range.max} of ${extreme}`);
  });

  it('returns the value itself for constant, zero and single-value tensors', () => {
    assert.deepEqual(entropyRange(histogramOf(new Float32Array(500).fill(1.75)), 128), { min: 1.75, max: 1.75 });
    assert.deepEqual(entropyRange(histogramOf(new Float32Array(500)), 128), { min: 0, max: 0 });
    assert.deepEqual(entropyRange(histogramOf(Float32Array.of(-2)), 128), { min: -2, max: -2 });
  });
});

describe('createEntropyCalibrator', () => {
  it('is deterministic and independent of batching', () => {
    const values = normal(createRandom(12), 40_000, 3);
    const ranges = [1, 40_000, 777].map((size) => {
      const calibrator = createEntropyCalibrator({ method: 'entropy', bins: 2048, levels: 128 });
      for (let start = 0; start < values.length; start += size) calibrator.observe('x', values.subarray(start, start + size));
      return calibrator.ranges({ qmin: 0, qmax: 255, symmetric: false });
    });
    assert.deepEqual(ranges[1], ranges[0]);
    assert.deepEqual(ranges[2], ranges[0]);
  });
});
