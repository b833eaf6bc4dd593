/**
 * The streaming histogram behind the percentile, entropy and MSE calibrators. Each tensor keeps
 * two fixed-size histograms, one of |x| for negative values and one of x for the rest, each on
 * [0, 2^e) with `bins` equal bins. When a larger value arrives, e grows and old bins merge
 * (bin i → bin ⌊i / 2^Δe⌋), which is exact: with float32 values and ≤ 2^16 bins,
 * `x · bins / 2^e` is computed without rounding, so the merged histogram equals the one a single
 * big batch would have built. The final width depends only on the largest |x| on each side, so
 * batching never changes any range. The cost: the largest value sits in the upper half of the
 * width, so between bins/2 and bins bins hold data.
 */
import { binMagnitudes, binWithin, scanExtremes } from './kernels.js';
import type { Calibrator, CalibrationConfig, CalibratorState, QuantGrid, TensorRange } from './types.js';

/** Upper bound on `bins`: keeps `x · bins / 2^e` exact for float32 x (24 + 16 bits < 53). */
export const MAX_BINS = 65_536;

/** The smallest width is 2^−126 (float32's smallest normal): tinier values all land in bin 0. */
const MIN_EXPONENT = -126;

/** Smallest exponent e with 2^e > magnitude (at least {@link MIN_EXPONENT}). */
function exponentAbove(magnitude: number): number {
  if (magnitude < 2 ** MIN_EXPONENT) return MIN_EXPONENT;
  let exponent = Math.floor(Math.log2(magnitude)) + 1;
  // log2 may be off by one near powers of two; settle it exactly.
  while (exponent > MIN_EXPONENT && 2 ** (exponent - 1) > magnitude) exponent--;
  while (2 ** exponent <= magnitude) exponent++;
  return exponent;
}

/** Adds `counts` (at width 2^from) into `into` (at width 2^to, to ≥ from): bin i → ⌊i / 2^(to−from)⌋. */
function mergeInto(into: Float64Array, counts: Float64Array, from: number, to: number): void {
  const factor = 2 ** (to - from);
  for (let bin = 0; bin < counts.length; bin++) {
    const count = counts[bin]!;
    if (count !== 0) into[Math.floor(bin / factor)]! += count;
  }
}

/** Extremes and how many values equal each. */
interface Extremes {
  readonly min: number;
  readonly atMin: number;
  readonly max: number;
  readonly atMax: number;
}

/** The extremes of two sets of values together (ties add up). */
function mergeExtremes(a: Extremes, b: Extremes): Extremes {
  const min = Math.min(a.min, b.min);
  const max = Math.max(a.max, b.max);
  return {
    min,
    atMin: (a.min === min ? a.atMin : 0) + (b.min === min ? b.atMin : 0),
    max,
    atMax: (a.max === max ? a.atMax : 0) + (b.max === max ? b.atMax : 0),
  };
}

/** Scratch for values that spill out of a histogram's widths, shared by every histogram. */
let spillScratch = new Float32Array(0);

function spillBuffer(length: number): Float32Array {
  if (spillScratch.length < length) spillScratch = new Float32Array(length);
  return spillScratch;
}

/** One side: magnitudes in [0, 2^exponent), or nothing yet (exponent undefined). */
class Side {
  readonly counts: Float64Array;
  exponent: number | undefined;

  constructor(bins: number) {
    this.counts = new Float64Array(bins);
  }

  /** Widens to hold `magnitude`, merging bins in place (targets never pass their source). */
  fit(magnitude: number): void {
    const wanted = exponentAbove(magnitude);
    if (this.exponent === undefined) {
      this.exponent = wanted;
      return;
    }
    if (wanted <= this.exponent) return;
    // bins ≤ 2^16, so a shift past 16 sends every bin to 0.
    const shift = Math.min(wanted - this.exponent, 17);
    for (let bin = 1; bin < this.counts.length; bin++) {
      const count = this.counts[bin]!;
      if (count === 0) continue;
      this.counts[bin] = 0;
      this.counts[bin >> shift]! += count;
    }
    this.exponent = wanted;
  }

  /** Bins per unit of magnitude; Infinity before any value, so {@link binWithin} spills them all. */
  liveScale(): number {
    return this.exponent === undefined ? Infinity : this.scale();
  }

  /** Bins per unit of magnitude. */
  scale(): number {
    return this.counts.length / 2 ** (this.exponent ?? 0);
  }

  binWidth(): number {
    return this.exponent === undefined ? 0 : 2 ** this.exponent / this.counts.length;
  }
}

/** A histogram of magnitudes: bin k holds values with |x| in [k·binWidth, (k+1)·binWidth). */
export interface MagnitudeHistogram {
  readonly counts: Float64Array;
  /** 0 when the side saw nothing. */
  readonly binWidth: number;
}

/** A {@link StreamingHistogram} as structured-clonable data. */
export interface HistogramState {
  readonly bins: number;
  readonly negative: { readonly counts: Float64Array; readonly exponent: number | undefined };
  readonly positive: { readonly counts: Float64Array; readonly exponent: number | undefined };
  /** count, zeros, skipped, min, max, atMin, atMax. */
  readonly scalars: readonly [number, number, number, number, number, number, number];
}

/** The running summary of one tensor: exact count, min, max (and how many equal them), zeros, and the two sides. */
export class StreamingHistogram {
  readonly bins: number;
  readonly #negative: Side;
  readonly #positive: Side;
  #count = 0;
  #zeros = 0;
  #skipped = 0;
  #min = Infinity;
  #max = -Infinity;
  #atMin = 0;
  #atMax = 0;

  constructor(bins: number) {
    this.bins = bins;
    this.#negative = new Side(bins);
    this.#positive = new Side(bins);
  }

  /**
   * Folds a batch in. NaN and ±Infinity are skipped (no grid holds them) and counted in
   * {@link skipped}. The first batch takes an extremes pass to set the widths, then one binning
   * pass; later batches take one pass ({@link binWithin}) and widen only for what spilled.
   */
  observe(values: Float32Array): void {
    if (values.length === 0) return;
    if (this.#count === 0 && this.#skipped === 0) {
      this.#observeTwoPass(values);
      return;
    }
    const spill = spillBuffer(values.length);
    const batch = binWithin(values, this.#positive.counts, this.#negative.counts, this.#positive.liveScale(), this.#negative.liveScale(), spill);
    let nonFinite = batch.nan;
    let finite = values.length - batch.nan;
    let extremes: Extremes = { min: batch.min, atMin: batch.atMin, max: batch.max, atMax: batch.atMax };
    if (batch.zeros > 0) extremes = mergeExtremes(extremes, { min: 0, atMin: batch.zeros, max: 0, atMax: batch.zeros });
    this.#zeros += batch.zeros;
    this.#positive.counts[0]! += batch.zeros;
    let spilledLow = false;
    let spilledHigh = false;
    if (batch.spilled > 0) {
      const spilled = spill.subarray(0, batch.spilled);
      const late = scanExtremes(spilled);
      nonFinite += late.nonFinite;
      finite -= late.nonFinite;
      // Widen, then bin what spilled (binMagnitudes leaves the scratch alone).
      const rest = late.nonFinite > 0 ? spilled.filter((value) => value - value === 0) : spilled;
      if (late.min < 0) this.#negative.fit(-late.min);
      if (late.max >= 0) this.#positive.fit(late.max);
      binMagnitudes(rest, this.#positive.counts, this.#negative.counts, this.#positive.scale(), this.#negative.scale());
      if (rest.length > 0) extremes = mergeExtremes(extremes, late);
      spilledLow = late.min < 0;
      spilledHigh = late.max > 0;
    }
    this.#skipped += nonFinite;
    if (finite === 0) return;
    // binWithin tracks the min among negatives and the max among positives only; with no value
    // ≤ 0 (or ≥ 0) in the batch the other extreme needs a plain pass (a one-signed batch).
    const low = batch.min !== Infinity || batch.zeros > 0 || spilledLow;
    const high = batch.max !== -Infinity || batch.zeros > 0 || spilledHigh;
    if (!low || !high) extremes = scanExtremes(values);
    this.#count += finite;
    this.#mergeExtremes(extremes);
  }

  #observeTwoPass(values: Float32Array): void {
    const extremes = scanExtremes(values);
    this.#skipped += extremes.nonFinite;
    const finite = extremes.nonFinite > 0 ? values.filter((value) => value - value === 0) : values;
    if (finite.length === 0) return;
    this.#count += finite.length;
    if (extremes.min < 0) this.#negative.fit(-extremes.min);
    if (extremes.max >= 0) this.#positive.fit(extremes.max);
    const zeros = binMagnitudes(finite, this.#positive.counts, this.#negative.counts, this.#positive.scale(), this.#negative.scale());
    this.#positive.counts[0]! += zeros;
    this.#zeros += zeros;
    this.#mergeExtremes(extremes);
  }

  #mergeExtremes(batch: Extremes): void {
    const merged = mergeExtremes({ min: this.#min, atMin: this.#atMin, max: this.#max, atMax: this.#atMax }, batch);
    this.#min = merged.min + 0;
    this.#atMin = merged.atMin;
    this.#max = merged.max + 0;
    this.#atMax = merged.atMax;
  }

  /** Finite values seen. */
  get count(): number {
    return this.#count;
  }

  /** Values exactly 0 (kept in bin 0 of the positive side too); every grid represents them exactly. */
  get zeros(): number {
    return this.#zeros;
  }

  /** NaN and infinite values skipped. */
  get skipped(): number {
    return this.#skipped;
  }

  /** Exact smallest finite value (Infinity before any). */
  get min(): number {
    return this.#min;
  }

  /** Exact largest finite value (−Infinity before any). */
  get max(): number {
    return this.#max;
  }

  /** How many values equal {@link min} exactly (a range ending there holds them without error). */
  get atMin(): number {
    return this.#atMin;
  }

  /** How many values equal {@link max} exactly. */
  get atMax(): number {
    return this.#atMax;
  }

  /** |x| of the negative values. */
  negative(): MagnitudeHistogram {
    return { counts: this.#negative.counts, binWidth: this.#negative.binWidth() };
  }

  /** x ≥ 0 (zeros in bin 0). */
  positive(): MagnitudeHistogram {
    return { counts: this.#positive.counts, binWidth: this.#positive.binWidth() };
  }

  /** Histogram of |x| over both sides, at the wider side's width (a fresh array). */
  magnitudes(): MagnitudeHistogram {
    const sides = [this.#negative, this.#positive].filter((side) => side.exponent !== undefined);
    const counts = new Float64Array(this.bins);
    if (sides.length === 0) return { counts, binWidth: 0 };
    const exponent = Math.max(...sides.map((side) => side.exponent!));
    for (const side of sides) mergeInto(counts, side.counts, side.exponent!, exponent);
    return { counts, binWidth: 2 ** exponent / this.bins };
  }

  /** Everything the histogram holds, as plain data (the count arrays copied). */
  toState(): HistogramState {
    return {
      bins: this.bins,
      negative: { counts: this.#negative.counts.slice(), exponent: this.#negative.exponent },
      positive: { counts: this.#positive.counts.slice(), exponent: this.#positive.exponent },
      scalars: [this.#count, this.#zeros, this.#skipped, this.#min, this.#max, this.#atMin, this.#atMax],
    };
  }

  /** A histogram equal to the one {@link toState} was taken from. */
  static fromState(state: HistogramState): StreamingHistogram {
    const histogram = new StreamingHistogram(state.bins);
    histogram.#negative.counts.set(state.negative.counts);
    histogram.#negative.exponent = state.negative.exponent;
    histogram.#positive.counts.set(state.positive.counts);
    histogram.#positive.exponent = state.positive.exponent;
    [histogram.#count, histogram.#zeros, histogram.#skipped, histogram.#min, histogram.#max, histogram.#atMin, histogram.#atMax] = state.scalars;
    return histogram;
  }

  /** Bytes held: the two count arrays (the scalars are noise beside them). */
  heldBytes(): number {
    return this.#negative.counts.byteLength + this.#positive.counts.byteLength;
  }
}

/** Index one past the last non-empty bin (0 when all are empty). */
export function occupiedBins(counts: Float64Array): number {
  for (let bin = counts.length - 1; bin >= 0; bin--) if (counts[bin] !== 0) return bin + 1;
  return 0;
}

/** Chooses one tensor's range from its histogram for a grid. */
export type RangeChooser = (histogram: StreamingHistogram, grid: QuantGrid) => TensorRange;

/**
 * A {@link Calibrator} that keeps one {@link StreamingHistogram} per tensor and defers the
 * choice of range to a method (percentile, entropy, MSE). Tensors with no finite value get [0, 0].
 */
export class HistogramCalibrator implements Calibrator {
  readonly config: CalibrationConfig;
  readonly #bins: number;
  readonly #choose: RangeChooser;
  readonly #histograms = new Map<string, StreamingHistogram>();

  constructor(config: CalibrationConfig & { readonly bins: number }, choose: RangeChooser) {
    this.config = config;
    this.#bins = config.bins;
    this.#choose = choose;
  }

  observe(tensor: string, values: Float32Array): void {
    let histogram = this.#histograms.get(tensor);
    if (!histogram) {
      histogram = new StreamingHistogram(this.#bins);
      this.#histograms.set(tensor, histogram);
    }
    histogram.observe(values);
  }

  tensors(): readonly string[] {
    return [...this.#histograms.keys()];
  }

  snapshot(): CalibratorState {
    return [...this.#histograms].map(([name, histogram]) => [name, histogram.toState()]);
  }

  restore(state: CalibratorState): void {
    for (const [name, histogram] of state) this.#histograms.set(name, StreamingHistogram.fromState(histogram as HistogramState));
  }

  /** The histogram of one tensor, for reports and tests. */
  histogram(tensor: string): StreamingHistogram | undefined {
    return this.#histograms.get(tensor);
  }

  ranges(grid: QuantGrid): Map<string, TensorRange> {
    const ranges = new Map<string, TensorRange>();
    for (const [name, histogram] of this.#histograms) {
      ranges.set(name, histogram.count === 0 ? { min: 0, max: 0 } : this.#choose(histogram, grid));
    }
    return ranges;
  }

  heldBytes(): number {
    let bytes = 0;
    for (const histogram of this.#histograms.values()) bytes += histogram.heldBytes();
    return bytes;
  }
}
