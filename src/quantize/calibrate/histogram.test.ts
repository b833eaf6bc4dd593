import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRandom, normal, uniform } from '../../../test/fixtures/random.js';
import { HistogramCalibrator, StreamingHistogram } from './histogram.js';

/** The histogram a single pass would build at width 2^exponent (the reference for merging). */
function direct(values: Float32Array, bins: number, sign: 1 | -1, width: number): Float64Array {
  const counts = new Float64Array(bins);
  for (const value of values) {
    const magnitude = sign * value;
    if (magnitude > 0 || (sign === 1 && magnitude === 0)) counts[Math.floor((magnitude / width) * bins)]!++;
  }
  return counts;
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

describe('StreamingHistogram', () => {
  it('keeps the exact count, min, max and zeros, with widths a power of two above the extremes', () => {
    const histogram = new StreamingHistogram(16);
    histogram.observe(Float32Array.of(0, 0, 1.5, -0.25, 3));
    assert.equal(histogram.count, 5);
    assert.equal(histogram.zeros, 2);
    assert.equal(histogram.min, -0.25);
    assert.equal(histogram.max, 3);
    assert.equal(histogram.positive().binWidth, 4 / 16); // 3 < 4
    assert.equal(histogram.negative().binWidth, 0.5 / 16); // 0.25 < 0.5: strictly above
    assert.deepEqual([...histogram.positive().counts].slice(0, 13), [2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    assert.equal(histogram.negative().counts[8], 1);
  });

  it('gives the same bins whether the data comes in one batch or many, growing ranges included', () => {
    const random = createRandom(11);
    // Small values first so the width must grow (and merge bins) several times.
    const parts = [uniform(random, 500, -0.01, 0.02), normal(random, 3000, 0.5), uniform(random, 7, -9, 30), normal(random, 2000, 3)];
    const merged = new StreamingHistogram(2048);
    for (const part of parts) merged.observe(part);
    const whole = new StreamingHistogram(2048);
    const all = concat(parts);
    whole.observe(all);
    assert.deepEqual(merged.positive(), whole.positive());
    assert.deepEqual(merged.negative(), whole.negative());
    assert.deepEqual(merged.magnitudes(), whole.magnitudes());
    assert.equal(merged.count, all.length);
    // And both equal binning every value directly at the final width.
    assert.deepEqual(merged.positive().counts, direct(all, 2048, 1, merged.positive().binWidth * 2048));
    assert.deepEqual(merged.negative().counts, direct(all, 2048, -1, merged.negative().binWidth * 2048));
  });

  it('merges exactly for a bin count that is not a power of two', () => {
    const random = createRandom(5);
    const parts = [uniform(random, 300, 0, 0.1), uniform(random, 300, -5, 7), uniform(random, 300, -100, 100)];
    const merged = new StreamingHistogram(1000);
    for (const part of parts) merged.observe(part);
    const whole = new StreamingHistogram(1000);
    whole.observe(concat(parts));
    assert.deepEqual(merged.magnitudes(), whole.magnitudes());
  });

  it('combines both sides into an |x| histogram at the wider width', () => {
    const histogram = new StreamingHistogram(8);
    histogram.observe(Float32Array.of(-0.5, 0.5, 3, -3.5));
    // Negative width 4 (3.5 < 4), positive width 4: bins of 0.5.
    const { counts, binWidth } = histogram.magnitudes();
    assert.equal(binWidth, 0.5);
    assert.deepEqual([...counts], [0, 2, 0, 0, 0, 0, 1, 1]);
  });

  it('skips NaN and infinities and counts them', () => {
    const histogram = new StreamingHistogram(8);
    histogram.observe(Float32Array.of(NaN, 1, -Infinity, Infinity, -2));
    assert.equal(histogram.count, 2);
    assert.equal(histogram.skipped, 3);
    assert.equal(histogram.min, -2);
    assert.equal(histogram.max, 1);
  });

  it('bins tiny and huge float32 values without overflow', () => {
    const histogram = new StreamingHistogram(2048);
    histogram.observe(Float32Array.of(1e-45, -1e-40, 3.4e38));
    assert.equal(histogram.count, 3);
    assert.equal(histogram.positive().binWidth, 2 ** 128 / 2048);
    assert.equal(histogram.positive().counts[0], 1);
    assert.equal(histogram.positive().counts[2046], 1); // 3.4e38 / 2^128 = 0.99916
    assert.equal(histogram.negative().binWidth, 2 ** -126 / 2048); // the smallest width
    assert.equal(histogram.negative().counts[17], 1); // 1e-40 / 2^-126 × 2048 = 17.4
  });
  it('gives the single-batch summary for any split: one-signed, spilling, tied, zero and non-finite batches', () => {
    const random = createRandom(21);
    const pick = (n: number): number => Math.floor(random() * n);
    for (let trial = 0; trial < 60; trial++) {
      const parts: Float32Array[] = [];
      for (let part = 0; part < 1 + pick(6); part++) {
        const shape = pick(6);
        let values = normal(random, 1 + pick(400), 0.1 * 2 ** pick(8), shape === 0 ? 3 : 0);
        if (shape === 1) values = values.map(Math.abs); // one-signed positive
        if (shape === 2) values = values.map((value) => -Math.abs(value) - 0.5); // one-signed negative, no zeros
        if (shape === 3) values = values.map((value) => Math.min(6, Math.max(0, value))); // ReLU6: zeros and ties at 6
        if (shape === 4) values = values.map((value) => Math.round(value)); // many ties
        if (pick(4) === 0) values[pick(values.length)] = [NaN, Infinity, -Infinity, -0][pick(4)]!;
        parts.push(values);
      }
      const streamed = new StreamingHistogram(64);
      for (const part of parts) streamed.observe(part);
      const whole = new StreamingHistogram(64);
      whole.observe(concat(parts));
      const summary = (h: StreamingHistogram) => ({ count: h.count, zeros: h.zeros, skipped: h.skipped, min: h.min, max: h.max, atMin: h.atMin, atMax: h.atMax, positive: h.positive(), negative: h.negative() });
      assert.deepEqual(summary(streamed), summary(whole), `trial ${trial}`);
    }
  });
});

describe('HistogramCalibrator', () => {
  it('holds the same bytes after 1 batch as after 200 (memory ∝ tensors × bins)', () => {
    const random = createRandom(2);
    const calibrator = new HistogramCalibrator({ method: 'mse', bins: 2048 }, (histogram) => ({ min: histogram.min, max: histogram.max }));
    calibrator.observe('a', normal(random, 1000));
    calibrator.observe('b', normal(random, 1000));
    const after1 = calibrator.heldBytes();
    assert.equal(after1, 2 * 2 * 2048 * 8);
    for (let batch = 0; batch < 200; batch++) {
      calibrator.observe('a', normal(random, 1000, 1 + batch));
      calibrator.observe('b', normal(random, 1000));
    }
    assert.equal(calibrator.heldBytes(), after1);
    assert.deepEqual(calibrator.tensors(), ['a', 'b']);
  });

  it('gives [0, 0] to a tensor that never had a finite value', () => {
    const calibrator = new HistogramCalibrator({ method: 'mse', bins: 16 }, () => assert.fail('not called for empty tensors'));
    calibrator.observe('empty', new Float32Array(0));
    calibrator.observe('nan', Float32Array.of(NaN));
    assert.deepEqual([...calibrator.ranges({ qmin: 0, qmax: 255, symmetric: false })], [
      ['empty', { min: 0, max: 0 }],
      ['nan', { min: 0, max: 0 }],
    ]);
  });
});
