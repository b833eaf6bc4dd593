/**
 * The calibration contract: an observer sees every batch of every calibrated tensor once,
 * keeps a fixed-size summary (min/max or a histogram) and drops the values, so memory grows
 * with tensors × bins, never with the number of samples. At the end it picks one real range
 * per tensor for the quantization grid it is told about.
 */

/** Calibration methods, each one file in this folder. */
export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy' | 'mse';

/** One calibrator and its parameters (a typed union: each method takes only what it uses). */
export type CalibrationConfig =
  | {
      readonly method: 'minmax';
      /** EMA constant `c` in `v += c·(new − v)` per batch; undefined keeps the global min and max. */
      readonly movingAverage?: number;
    }
  | { readonly method: 'percentile'; readonly percentile: number; readonly bins: number }
  | { readonly method: 'entropy'; readonly bins: number; readonly levels: number }
  | { readonly method: 'mse'; readonly bins: number };

/** A real-valued range chosen for a tensor (float64; the quantizer adds 0 if it is missing). */
export interface TensorRange {
  readonly min: number;
  readonly max: number;
}

/** The integer grid a range will be mapped onto, which MSE and entropy searches need. */
export interface QuantGrid {
  readonly qmin: number;
  readonly qmax: number;
  readonly symmetric: boolean;
}

/** A streaming range estimator for many named tensors. */
export interface Calibrator {
  readonly config: CalibrationConfig;
  /** Folds one batch of a tensor's values into its summary. Must not keep `values`. */
  observe(tensor: string, values: Float32Array): void;
  /** Names of the tensors observed so far, in first-seen order. */
  tensors(): readonly string[];
  /** The chosen range of every observed tensor, in first-seen order. */
  ranges(grid: QuantGrid): Map<string, TensorRange>;
  /** Bytes held by the summaries (for the memory check: tensors × bins). */
  heldBytes(): number;
  /** The summaries as structured-clonable data, to move them between threads (optional). */
  snapshot?(): CalibratorState;
  /** Takes over a {@link snapshot} of a calibrator with the same config; only before any observe. */
  restore?(state: CalibratorState): void;
}

/** Per tensor, in first-seen order, a calibrator's own summary as plain data. */
export type CalibratorState = readonly (readonly [tensor: string, summary: unknown])[];
