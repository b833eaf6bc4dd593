/**
 * How far a quantized model's raw outputs are from the FP32 model's on the same inputs:
 * signal-to-quantization-noise ratio, largest absolute error, and agreement of the winning
 * class. These judge the model itself, before any task metric (accuracy, F1) rounds the
 * differences away, so they show a calibrator's damage even where the task score hides it.
 */
import { KilnError } from '../core/errors.js';

function checkPair(reference: ArrayLike<number>, test: ArrayLike<number>, what: string): void {
  if (reference.length !== test.length) {
    throw new KilnError('KILN_CORE_INVALID_ARGUMENT', `${what}: the reference has ${reference.length} values, the test ${test.length}`, {
      details: { reference: reference.length, test: test.length },
    });
  }
}

/**
 * SQNR in decibels, `10·log10(Σy² / Σ(y − ŷ)²)`, summed over every output of an evaluation
 * set rather than averaged per sample, so a few near-silent outputs cannot dominate the figure.
 * Sums are float64. Identical outputs give `Infinity`; a silent reference (Σy² = 0) with any
 * error gives `-Infinity`; no values at all give `NaN`.
 * @example
 * const sqnr = new SqnrAccumulator();
 * for (const [fp32, int8] of pairs) sqnr.add(fp32, int8);
 * console.log(sqnr.db(), sqnr.maxAbsError);
 */
export class SqnrAccumulator {
  #signal = 0;
  #noise = 0;
  #count = 0;
  #maxAbsError = 0;

  /**
   * Folds one pair of same-length outputs in.
   * @throws KilnError `KILN_CORE_INVALID_ARGUMENT` when the lengths differ.
   */
  add(reference: ArrayLike<number>, test: ArrayLike<number>): this {
    checkPair(reference, test, 'SQNR');
    let signal = 0;
    let noise = 0;
    let maxAbs = this.#maxAbsError;
    for (let index = 0; index < reference.length; index++) {
      const y = reference[index]!;
      const error = y - test[index]!;
      signal += y * y;
      noise += error * error;
      const abs = Math.abs(error);
      // `!(abs <= maxAbs)` also lets a NaN through, so a broken output is not hidden.
      if (!(abs <= maxAbs)) maxAbs = abs;
    }
    this.#signal += signal;
    this.#noise += noise;
    this.#count += reference.length;
    this.#maxAbsError = maxAbs;
    return this;
  }

  /** Values folded in so far. */
  get count(): number {
    return this.#count;
  }

  /** The largest `|y − ŷ|` seen so far (0 before any value). */
  get maxAbsError(): number {
    return this.#maxAbsError;
  }

  /** The SQNR of everything added so far, in dB. */
  db(): number {
    if (this.#count === 0) return Number.NaN;
    if (this.#noise === 0) return Number.POSITIVE_INFINITY;
    return 10 * Math.log10(this.#signal / this.#noise);
  }
}

/** SQNR in dB of one pair of outputs; see {@link SqnrAccumulator}. */
export function sqnrDb(reference: ArrayLike<number>, test: ArrayLike<number>): number {
  return new SqnrAccumulator().add(reference, test).db();
}

/** The largest `|reference − test|` over a pair of same-length outputs (0 when empty). */
export function maxAbsError(reference: ArrayLike<number>, test: ArrayLike<number>): number {
  return new SqnrAccumulator().add(reference, test).maxAbsError;
}

/** Index of the largest value in `values[offset, offset + length)`; the first one wins ties (as numpy). */
export function argmax(values: ArrayLike<number>, offset = 0, length = values.length - offset): number {
  let best = 0;
  let bestValue = values[offset]!;
  for (let index = 1; index < length; index++) {
    const value = values[offset + index]!;
    if (value > bestValue) {
      best = index;
      bestValue = value;
    }
  }
  return best;
}

/** How many rows of two outputs pick the same class. */
export interface Agreement {
  readonly agree: number;
  readonly total: number;
}

/**
 * Top-1 agreement of two outputs laid out as rows of `classes` scores (logits or
 * probabilities, `[..., classes]` flattened): how many rows have the same argmax. For a
 * classifier a row is a sample; for a CTC recognizer it is one time step.
 * @throws KilnError `KILN_CORE_INVALID_ARGUMENT` when the lengths differ or are not whole rows.
 * @example top1Agreement(fp32Logits, int8Logits, 1000) // { agree: 7, total: 8 }
 */
export function top1Agreement(reference: ArrayLike<number>, test: ArrayLike<number>, classes: number): Agreement {
  checkPair(reference, test, 'top-1 agreement');
  if (!Number.isInteger(classes) || classes < 1 || reference.length % classes !== 0) {
    throw new KilnError('KILN_CORE_INVALID_ARGUMENT', `top-1 agreement: ${reference.length} values are not rows of ${classes} classes`, {
      details: { values: reference.length, classes },
    });
  }
  const total = reference.length / classes;
  let agree = 0;
  for (let row = 0; row < total; row++) {
    if (argmax(reference, row * classes, classes) === argmax(test, row * classes, classes)) agree++;
  }
  return { agree, total };
}

/**
 * How many elements fall on the same side of `threshold` in both outputs: the agreement of
 * binary decisions such as a detector's text/no-text map (a value equal to the threshold
 * counts as below it, as a `> threshold` test reads it).
 * @throws KilnError `KILN_CORE_INVALID_ARGUMENT` when the lengths differ.
 */
export function thresholdAgreement(reference: ArrayLike<number>, test: ArrayLike<number>, threshold: number): Agreement {
  checkPair(reference, test, 'threshold agreement');
  let agree = 0;
  for (let index = 0; index < reference.length; index++) {
    if (reference[index]! > threshold === test[index]! > threshold) agree++;
  }
  return { agree, total: reference.length };
}
