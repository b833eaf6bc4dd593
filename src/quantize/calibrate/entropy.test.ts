import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRandom, normal, uniform } from '../../../test/fixtures/random.js';
import { entropyBins, entropyRange, createEntropyCalibrator } from './entropy.js';
import { StreamingHistogram } from './histogram.js';

/** The algorithm written out with whole arrays, as described (slow, obvious). */
function referenceBins(counts: Float64Array, levels: number): number {
  let occupied = counts.length;
  while (occupied > 0 && counts[occupied - 1] === 0) occupied--;
  if (occupied <= levels) return occupied;
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
    const p = [...counts.subarray(0, kept)];
    p[kept - 1]! += [...counts.subarray(kept)].reduce((a, b) => a + b, 0);
    const q = new Array<number>(kept).fill(0);
    for (let group = 0; group < levels; group++) {
      const start = Math.floor((group * kept) / levels);
      const stop = Math.floor(((group + 1) * kept) / levels);
      const mass = [...counts.subarray(start, stop)].reduce((a, b) => a + b, 0);
      const nonEmpty = p.slice(start, stop).filter((value) => value !== 0).length;
      for (let bin = start; bin < stop; bin++) if (p[bin] !== 0) q[bin] = mass / nonEmpty;
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

describe('entropyBins', () => {
  it('matches the algorithm written out with whole arrays', () => {
    const random = createRandom(21);
    const cases = [
      normal(random, 20_000),
      normal(random, 5_000).map((value) => Math.max(0, value)),
      Float32Array.from(normal(random, 5_000), (value) => value ** 3),
      uniform(random, 3_000, -1, 1),
    ];
    for (const values of cases) {
      const { counts } = histogramOf(values, 512).magnitudes();
      assert.equal(entropyBins(counts, 32), referenceBins(counts, 32));
    }
  });

  it('keeps all bins when no more than `levels` are occupied', () => {
    const counts = new Float64Array(2048);
    counts[0] = 10;
    counts[100] = 3;
    assert.equal(entropyBins(counts, 128), 101);
    assert.equal(entropyBins(new Float64Array(2048), 128), 0);
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
    const range = entropyRange(histogramOf(values), 128);
    assert.ok(range.max > 2.5 && range.max < 8, `max ${range.max}`);
    assert.equal(range.min, -range.max);
  });

  it('keeps a post-ReLU tensor at [0, t]', () => {
    const values = normal(createRandom(6), 100_000).map((value) => Math.max(0, value));
    const range = entropyRange(histogramOf(values), 128);
    assert.equal(range.min, 0);
    assert.ok(range.max > 0.5 && range.max <= values.reduce((a, b) => Math.max(a, b)), `max ${range.max}`);
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
