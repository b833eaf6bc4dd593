/**
 * Entropy calibration, TensorRT's KL-divergence search on the |x| histogram. For each candidate
 * i up to the last occupied bin n: P is the first i bins with the mass beyond them added to bin
 * i−1; Q is the same first i bins *without* that outlier mass (as in TensorRT's description and
 * MXNet's reference code), merged into `levels` groups and spread evenly back over the bins where
 * P is non-empty; zeros of both are smoothed with ε = 1e−4 (on counts, so nothing goes negative);
 * the i with the least KL(P‖Q) wins and t = i × bin width. Groups split i bins as evenly as
 * possible (⌊g·i/levels⌋ boundaries) instead of giving the last group the remainder. Candidates
 * stop at n rather than at `bins` because kiln's histogram width is a power of two above max|x|
 * (bins past n are empty). All candidates are tried: about 2 M logarithms at 2048 bins, a few
 * tens of milliseconds per tensor.
 *
 * Three departures from TensorRT keep the search from collapsing on real activations; on smooth
 * shapes without exact zeros (Gaussian, half-normal, Laplace) none of them moves t.
 * - Exact zeros are left out of P and Q. Every grid holds 0 exactly whatever the threshold, so
 *   they carry no quantization loss; left in, the spike of zeros after a ReLU (often half the
 *   mass) dominates both distributions and drags t to a fraction of the body's width.
 * - The resolution rule: a candidate must keep at least `levels` non-empty bins. With fewer,
 *   each of Q's groups holds at most one non-empty bin, so Q reproduces P at the histogram's
 *   resolution and the KL is ≈ 0 however much mass was clipped. The worst case is a tensor away
 *   from 0 (a HardSigmoid output in [0.12, 0.69]): the first candidate reaching the data holds
 *   all the mass in one bin, P = Q, KL = 0, and t collapses to the minimum. TensorRT starts at
 *   i = `levels`, which is the same rule when the histogram is dense from 0; counting non-empty
 *   bins makes it hold for any shape, and a tensor with no more than `levels` of them keeps its
 *   whole range.
 * - The body rule: t keeps at least {@link BODY_MASS} (99.9 %) of the non-zero values, so it never
 *   falls below a one-signed tensor's minimum. Near i = `levels` the groups are one or two bins
 *   wide and Q matches P almost bin for bin, while at the full range each group merges ~16
 *   bins; a histogram with sharp spikes in its body (flat image regions give thousands of equal
 *   values) then looks cheaper to clip than to quantize, and the KL alone cut 4–13 % of the
 *   values of early PP-OCR activations. On smooth shapes the KL clips ~10⁻⁵ of the mass, far
 *   inside this bound.
 */
import { HistogramCalibrator, occupiedBins, type StreamingHistogram } from './histogram.js';
import type { CalibrationConfig, TensorRange } from './types.js';

type EntropyConfig = Extract<CalibrationConfig, { method: 'entropy' }>;

/** Smoothing added to empty bins (TensorRT, MXNet). */
const EPSILON = 1e-4;

/** Share of the non-zero values every candidate threshold keeps (the body rule). */
export const BODY_MASS = 0.999;

/**
 * KL(P‖Q) for the candidate keeping `kept` bins; `prefix[k]` is the mass of bins < k,
 * `prefixOccupied[k]` the number of non-empty bins < k. Infinity if smoothing fails.
 */
function divergence(counts: Float64Array, prefix: Float64Array, prefixOccupied: Float64Array, kept: number, levels: number): number {
  const total = prefix[counts.length]!;
  const outliers = total - prefix[kept]!;
  const lastRaw = counts[kept - 1]!;
  const lastP = lastRaw + outliers;
  // P's non-empty bins: the raw ones, plus bin kept−1 when only the outliers fill it.
  const occupiedP = prefixOccupied[kept]! + (lastRaw === 0 && lastP > 0 ? 1 : 0);
  const emptyP = kept - occupiedP;
  const shaveP = (EPSILON * emptyP) / occupiedP;
  // Q's empty bins: P's, plus bin kept−1 when its group holds no raw mass (only outliers).
  const lastStart = Math.floor(((levels - 1) * kept) / levels);
  const emptyQ = emptyP + (lastP > 0 && prefix[kept]! - prefix[lastStart]! === 0 ? 1 : 0);
  const occupiedQ = kept - emptyQ;
  if (occupiedQ === 0) return Infinity;
  const shaveQ = (EPSILON * emptyQ) / occupiedQ;
  const totalQ = prefix[kept]!;
  let sum = 0;
  for (let group = 0; group < levels; group++) {
    const start = Math.floor((group * kept) / levels);
    const stop = Math.floor(((group + 1) * kept) / levels);
    if (stop === start) continue;
    const mass = prefix[stop]! - prefix[start]!;
    let occupied = prefixOccupied[stop]! - prefixOccupied[start]!;
    if (stop === kept && lastRaw === 0 && lastP > 0) occupied++;
    const q = mass === 0 ? EPSILON : mass / occupied - shaveQ;
    if (q <= 0) return Infinity;
    const logQ = Math.log(q / totalQ);
    for (let bin = start; bin < stop; bin++) {
      const raw = bin === kept - 1 ? lastP : counts[bin]!;
      // Bins empty in P are ε in both P and Q: they add nothing.
      if (raw === 0) continue;
      const p = raw - shaveP;
      if (p <= 0) return Infinity;
      sum += (p / total) * (Math.log(p / total) - logQ);
    }
  }
  return sum;
}

/**
 * The number of bins t / binWidth that minimizes KL(P‖Q) for a |x| histogram without exact
 * zeros; ties to the smallest. Candidates run from the first i whose bins [0, i) hold both
 * `levels` non-empty bins and {@link BODY_MASS} of the mass (see the module comment) to the
 * last occupied bin; with no more than `levels` occupied bins every bin is kept.
 */
export function entropyBins(counts: Float64Array, levels: number): number {
  const occupied = occupiedBins(counts);
  const prefix = new Float64Array(counts.length + 1);
  const prefixOccupied = new Float64Array(counts.length + 1);
  for (let bin = 0; bin < counts.length; bin++) {
    prefix[bin + 1] = prefix[bin]! + counts[bin]!;
    prefixOccupied[bin + 1] = prefixOccupied[bin]! + (counts[bin]! > 0 ? 1 : 0);
  }
  if (prefixOccupied[counts.length]! <= levels) return occupied;
  const body = BODY_MASS * prefix[counts.length]!;
  let first = levels;
  while (prefixOccupied[first]! < levels || prefix[first]! < body) first++;
  let best = occupied;
  let bestDivergence = Infinity;
  for (let kept = first; kept <= occupied; kept++) {
    const value = divergence(counts, prefix, prefixOccupied, kept, levels);
    if (value < bestDivergence) {
      bestDivergence = value;
      best = kept;
    }
  }
  return best;
}

/**
 * The entropy range of one tensor: [max(min, −t), min(max, t)], t from {@link entropyBins} on
 * the |x| histogram with the exact zeros taken out of bin 0.
 */
export function entropyRange(histogram: StreamingHistogram, levels: number): TensorRange {
  const { counts, binWidth } = histogram.magnitudes();
  // magnitudes() is a fresh array, and the zeros sit in its bin 0.
  counts[0] = counts[0]! - histogram.zeros;
  const threshold = entropyBins(counts, levels) * binWidth;
  return { min: Math.max(histogram.min, -threshold), max: Math.min(histogram.max, threshold) };
}

/** The entropy calibrator over {@link StreamingHistogram}s. */
export function createEntropyCalibrator(config: EntropyConfig): HistogramCalibrator {
  return new HistogramCalibrator(config, (histogram) => entropyRange(histogram, config.levels));
}
