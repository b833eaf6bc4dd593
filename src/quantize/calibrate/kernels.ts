/**
 * The per-element loops of calibration, kept apart so they stay monomorphic (one Float32Array
 * shape, no closures) and can be tested against a plain reference. They are the whole cost of
 * calibration besides inference: a MobileNetV2 at 224² exposes ~13 M activation values per image.
 */

/** Finite extremes of a batch and how many values equal each; NaN and ±Infinity are counted apart. */
export interface BatchExtremes {
  /** Smallest finite value (Infinity when none; −0 reads as 0 through `+ 0`). */
  readonly min: number;
  readonly max: number;
  readonly atMin: number;
  readonly atMax: number;
  readonly nonFinite: number;
}

/** One pass: min, max, how many equal them, and the non-finite count. */
export function scanExtremes(values: Float32Array): BatchExtremes {
  let min = Infinity;
  let max = -Infinity;
  let atMin = 0;
  let atMax = 0;
  let nonFinite = 0;
  for (let index = 0; index < values.length; index++) {
    const value = values[index]!;
    // x − x is NaN exactly for NaN and ±Infinity.
    if (value - value !== 0) {
      nonFinite++;
      continue;
    }
    if (value <= min) {
      if (value < min) {
        min = value;
        atMin = 0;
      }
      atMin++;
    }
    if (value >= max) {
      if (value > max) {
        max = value;
        atMax = 0;
      }
      atMax++;
    }
  }
  // + 0 turns −0 into 0, so ranges never print as −0.
  return { min: min + 0, max: max + 0, atMin, atMax, nonFinite };
}

/**
 * Adds finite `values` to two magnitude histograms: x > 0 into `positive[⌊x·positiveScale⌋]`,
 * x < 0 into `negative[⌊−x·negativeScale⌋]`; returns how many are exactly 0 (±0), which the
 * caller books. The scales must be bins / 2^e with 2^e above every magnitude of their side, so
 * each product is exact, below the bin count and non-negative: `| 0` is the floor and no clamp
 * is needed.
 */
export function binMagnitudes(values: Float32Array, positive: Float64Array, negative: Float64Array, positiveScale: number, negativeScale: number): number {
  const negated = -negativeScale;
  let zeros = 0;
  for (let index = 0; index < values.length; index++) {
    const value = values[index]!;
    if (value > 0) positive[(value * positiveScale) | 0]!++;
    else if (value < 0) negative[(value * negated) | 0]!++;
    else zeros++;
  }
  return zeros;
}

/** What {@link binWithin} saw: extremes are over the values it binned (x > 0 for max, x < 0 for min). */
export interface BinnedBatch {
  readonly zeros: number;
  readonly nan: number;
  /** Values written to `spill`: beyond their side's width, or ±Infinity. */
  readonly spilled: number;
  /** Smallest binned negative value (Infinity when none) and how many equal it. */
  readonly min: number;
  readonly atMin: number;
  /** Largest binned positive value (−Infinity when none) and how many equal it. */
  readonly max: number;
  readonly atMax: number;
}

/**
 * One pass that bins every value already inside its side's width, as {@link binMagnitudes}
 * does, and writes the others (beyond the width, ±Infinity) to `spill` (as long as `values`)
 * for the caller to widen the histogram and bin them after. Exact zeros and NaN are counted.
 * Once the widths have settled (after the first batch of a tensor) nothing spills, so the
 * steady cost is this single pass instead of an extremes pass then a binning pass. A side with
 * no width yet takes a scale of Infinity, which sends all of its values to `spill`.
 */
export function binWithin(values: Float32Array, positive: Float64Array, negative: Float64Array, positiveScale: number, negativeScale: number, spill: Float32Array): BinnedBatch {
  const bins = positive.length;
  const negated = -negativeScale;
  let zeros = 0;
  let nan = 0;
  let spilled = 0;
  let min = Infinity;
  let max = -Infinity;
  let atMin = 0;
  let atMax = 0;
  for (let index = 0; index < values.length; index++) {
    const value = values[index]!;
    if (value > 0) {
      const scaled = value * positiveScale;
      if (scaled < bins) {
        positive[scaled | 0]!++;
        if (value >= max) {
          if (value > max) {
            max = value;
            atMax = 0;
          }
          atMax++;
        }
      } else spill[spilled++] = value;
    } else if (value < 0) {
      const scaled = value * negated;
      if (scaled < bins) {
        negative[scaled | 0]!++;
        if (value <= min) {
          if (value < min) {
            min = value;
            atMin = 0;
          }
          atMin++;
        }
      } else spill[spilled++] = value;
    } else if (value === 0) zeros++;
    else nan++;
  }
  return { zeros, nan, spilled, min, atMin, max, atMax };
}
