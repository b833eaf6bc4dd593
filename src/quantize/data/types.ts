/**
 * What the quantizer reads calibration data through: a source of model feeds, one sample at a
 * time in a fixed order, so the statistics (and the output model) are the same on every run.
 */
import type { HostTensor } from '../../runtime/tensors.js';

/** One sample: a host tensor per model input name. */
export type Feeds = Readonly<Record<string, HostTensor>>;

/** A stream of calibration samples. */
export interface CalibrationSource {
  /** Short description for messages, e.g. "42 images in calib/". */
  readonly description: string;
  /** Number of samples when known up front. */
  readonly count: number | undefined;
  /** Yields one feeds object per sample (batch 1 usually), in a fixed order. */
  samples(): AsyncIterable<Feeds>;
}
