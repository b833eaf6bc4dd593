/**
 * Percentile calibration (ORT's `Percentile`, default p = 99.999 on 2048 bins). For a symmetric
 * grid the threshold t is where the CDF of |x| reaches p/100 and the range is [−t, t]; for an
 * asymmetric grid (100 − p)/200 of the mass is cut from each tail. Either way the range is clamped
 * to the observed [min, max], so a post-ReLU tensor stays [0, t].
 *
 * Unlike ORT, which returns the lower edge of the bin where the CDF crosses, the crossing point
 * is interpolated inside that bin (values taken as uniform in it), so the answer moves smoothly
 * with p and hardly depends on the bin count.
 */
import { HistogramCalibrator, type MagnitudeHistogram, type StreamingHistogram } from './histogram.js';
import type { CalibrationConfig, QuantGrid, TensorRange } from './types.js';

type PercentileConfig = Extract<CalibrationConfig, { method: 'percentile' }>;

/** Smallest magnitude m with `mass` of the histogram's values at or below it (interpolated). */
function magnitudeAt(histogram: MagnitudeHistogram, mass: number): number {
  const { counts, binWidth } = histogram;
  let below = 0;
  for (let bin = 0; bin < counts.length; bin++) {
    const count = counts[bin]!;
    if (count > 0 && below + count >= mass) return (bin + (mass - below) / count) * binWidth;
    below += count;
  }
  return counts.length * binWidth;
}

/**
 * The signed value x with `mass` values below it, walking the negative side from its most
 * negative bin up, then the positive side.
 */
export function signedQuantile(histogram: StreamingHistogram, mass: number): number {
  const negative = histogram.negative();
  const negativeTotal = negative.counts.reduce((sum, count) => sum + count, 0);
  if (mass <= negativeTotal && negativeTotal > 0) {
    // Mass below −m on the negative side equals the negative mass with |x| ≥ m.
    return -magnitudeAt(negative, negativeTotal - mass);
  }
  return magnitudeAt(histogram.positive(), mass - negativeTotal);
}

/** The percentile range of one tensor; see the module comment. */
export function percentileRange(histogram: StreamingHistogram, grid: QuantGrid, percentile: number): TensorRange {
  const { min, max, count } = histogram;
  if (grid.symmetric) {
    const threshold = magnitudeAt(histogram.magnitudes(), (percentile / 100) * count);
    return { min: Math.max(min, -threshold), max: Math.min(max, threshold) };
  }
  const cut = ((100 - percentile) / 200) * count;
  // The quantizer always widens the range to hold 0, so a tail on zero's side is never cut.
  const low = min >= 0 ? min : Math.max(min, signedQuantile(histogram, cut));
  const high = max <= 0 ? max : Math.min(max, signedQuantile(histogram, count - cut));
  return { min: low, max: Math.max(low, high) };
}

/** The percentile calibrator over {@link StreamingHistogram}s. */
export function createPercentileCalibrator(config: PercentileConfig): HistogramCalibrator {
  return new HistogramCalibrator(config, (histogram, grid) => percentileRange(histogram, grid, config.percentile));
}
