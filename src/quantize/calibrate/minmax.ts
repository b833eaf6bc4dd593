/**
 * Min-max calibration (ORT's `MinMax`): the range is the global min and max of every value
 * seen, or, with a moving average, an EMA `v += c·(batch − v)` of each batch's min and max that
 * starts at the first batch. Global ranges only grow with more data; the EMA forgets outlier
 * batches. Memory is two numbers per tensor.
 */
import { scanExtremes } from './kernels.js';
import type { Calibrator, CalibrationConfig, CalibratorState, TensorRange } from './types.js';

type MinMaxConfig = Extract<CalibrationConfig, { method: 'minmax' }>;

interface Extremes {
  min: number;
  max: number;
  seen: boolean;
}

/** Bytes charged per tensor in {@link Calibrator.heldBytes}: two float64s and a flag. */
const BYTES_PER_TENSOR = 24;

/** Smallest and largest finite values of a batch; NaN and ±Infinity are skipped. */
function batchExtremes(values: Float32Array): { min: number; max: number } | undefined {
  const { min, max } = scanExtremes(values);
  return min === Infinity ? undefined : { min, max };
}

/** The min-max calibrator; see the module comment. Tensors with no finite value get [0, 0]. */
export class MinMaxCalibrator implements Calibrator {
  readonly config: MinMaxConfig;
  readonly #extremes = new Map<string, Extremes>();

  constructor(config: MinMaxConfig) {
    this.config = config;
  }

  observe(tensor: string, values: Float32Array): void {
    let extremes = this.#extremes.get(tensor);
    if (!extremes) {
      extremes = { min: 0, max: 0, seen: false };
      this.#extremes.set(tensor, extremes);
    }
    const batch = batchExtremes(values);
    if (!batch) return;
    const constant = this.config.movingAverage;
    if (!extremes.seen) {
      extremes.min = batch.min;
      extremes.max = batch.max;
      extremes.seen = true;
    } else if (constant === undefined) {
      extremes.min = Math.min(extremes.min, batch.min);
      extremes.max = Math.max(extremes.max, batch.max);
    } else {
      extremes.min += constant * (batch.min - extremes.min);
      extremes.max += constant * (batch.max - extremes.max);
    }
  }

  tensors(): readonly string[] {
    return [...this.#extremes.keys()];
  }

  ranges(): Map<string, TensorRange> {
    const ranges = new Map<string, TensorRange>();
    for (const [name, { min, max }] of this.#extremes) ranges.set(name, { min, max });
    return ranges;
  }

  snapshot(): CalibratorState {
    return [...this.#extremes].map(([name, extremes]) => [name, { ...extremes }]);
  }

  restore(state: CalibratorState): void {
    for (const [name, extremes] of state) this.#extremes.set(name, { ...(extremes as Extremes) });
  }

  heldBytes(): number {
    return this.#extremes.size * BYTES_PER_TENSOR;
  }
}
