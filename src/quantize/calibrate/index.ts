/**
 * Calibration: pick a real range per activation tensor from statistics gathered batch by batch.
 * `createCalibrator` turns a {@link CalibrationConfig} into its {@link Calibrator};
 * {@link CALIBRATION_DEFAULTS} holds every default once.
 */
import { KilnError } from '../../core/errors.js';
import { createEntropyCalibrator } from './entropy.js';
import { MAX_BINS } from './histogram.js';
import { MinMaxCalibrator } from './minmax.js';
import { createMseCalibrator } from './mse.js';
import { createPercentileCalibrator } from './percentile.js';
import type { Calibrator, CalibrationConfig, CalibrationMethod } from './types.js';

export type { Calibrator, CalibrationConfig, CalibrationMethod, QuantGrid, TensorRange } from './types.js';
export { HistogramCalibrator, StreamingHistogram, type MagnitudeHistogram } from './histogram.js';
export { MinMaxCalibrator } from './minmax.js';
export { percentileRange } from './percentile.js';
export { entropyBins, entropyRange } from './entropy.js';
export { mseRange } from './mse.js';
export { loadRanges, saveRanges, formatRanges, parseRanges, RANGES_FORMAT, RANGES_VERSION, type SavedRanges } from './ranges-file.js';

/**
 * Every calibration default, written once.
 * - `method`: `mse` (least expected squared error; beats ORT's choices on per-tensor activations).
 * - `bins`: 2048 (ORT's and TensorRT's histogram size).
 * - `percentile`: 99.999 (ORT's default).
 * - `levels`: 128 (TensorRT: the positive half of an int8 grid).
 * - `movingAverage`: 0.01, the min-max EMA constant used when a moving average is asked for
 *   without one (ORT's `CalibMovingAverageConstant`); min-max keeps global extremes unless asked.
 */
export const CALIBRATION_DEFAULTS = Object.freeze({
  method: 'mse' as CalibrationMethod,
  bins: 2048,
  percentile: 99.999,
  levels: 128,
  movingAverage: 0.01,
});

/** Method names in the order help texts list them. */
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = Object.freeze(['mse', 'minmax', 'percentile', 'entropy']);

function invalid(message: string): KilnError {
  return new KilnError('KILN_CORE_INVALID_ARGUMENT', message);
}

/**
 * Reads a method name from the command line (case-insensitive; `min-max` and `kl` are accepted).
 * @throws KilnError `KILN_CORE_INVALID_ARGUMENT` listing the valid names.
 * @example parseCalibrationMethod('Percentile') // 'percentile'
 */
export function parseCalibrationMethod(text: string): CalibrationMethod {
  const name = text.trim().toLowerCase();
  const aliases: Readonly<Record<string, CalibrationMethod>> = { 'min-max': 'minmax', kl: 'entropy' };
  const method = aliases[name] ?? (CALIBRATION_METHODS as readonly string[]).find((known) => known === name);
  if (!method) throw invalid(`calibration method '${text}' is not one of ${CALIBRATION_METHODS.join(', ')}`);
  return method as CalibrationMethod;
}

/**
 * The full config of a method with every unset parameter at its default. `movingAverage: true`
 * asks min-max for an EMA with the default constant; a number gives the constant.
 * @example calibrationConfig('percentile', { percentile: 99.99 }) // { method, percentile: 99.99, bins: 2048 }
 */
export function calibrationConfig(
  method: CalibrationMethod = CALIBRATION_DEFAULTS.method,
  options: { bins?: number; percentile?: number; levels?: number; movingAverage?: number | boolean } = {},
): CalibrationConfig {
  const bins = options.bins ?? CALIBRATION_DEFAULTS.bins;
  switch (method) {
    case 'minmax': {
      const { movingAverage } = options;
      if (movingAverage === undefined || movingAverage === false) return { method };
      return { method, movingAverage: movingAverage === true ? CALIBRATION_DEFAULTS.movingAverage : movingAverage };
    }
    case 'percentile':
      return { method, percentile: options.percentile ?? CALIBRATION_DEFAULTS.percentile, bins };
    case 'entropy':
      return { method, bins, levels: options.levels ?? CALIBRATION_DEFAULTS.levels };
    case 'mse':
      return { method, bins };
  }
}

function checkConfig(config: CalibrationConfig): void {
  if ('bins' in config && !(Number.isInteger(config.bins) && config.bins >= 2 && config.bins <= MAX_BINS)) {
    throw invalid(`calibration bins must be an integer from 2 to ${MAX_BINS}, not ${config.bins}`);
  }
  if (config.method === 'percentile' && !(config.percentile > 0 && config.percentile <= 100)) {
    throw invalid(`calibration percentile must be in (0, 100], not ${config.percentile}`);
  }
  if (config.method === 'entropy' && !(Number.isInteger(config.levels) && config.levels >= 2 && config.levels <= config.bins)) {
    throw invalid(`entropy levels must be an integer from 2 to the bin count (${config.bins}), not ${config.levels}`);
  }
  if (config.method === 'minmax' && config.movingAverage !== undefined && !(config.movingAverage > 0 && config.movingAverage <= 1)) {
    throw invalid(`the min-max moving-average constant must be in (0, 1], not ${config.movingAverage}`);
  }
}

/**
 * A fresh calibrator for a config (checked first).
 * @throws KilnError `KILN_CORE_INVALID_ARGUMENT` for out-of-range parameters.
 * @example createCalibrator(calibrationConfig()).observe('conv1_out', values)
 */
export function createCalibrator(config: CalibrationConfig): Calibrator {
  checkConfig(config);
  switch (config.method) {
    case 'minmax':
      return new MinMaxCalibrator(config);
    case 'percentile':
      return createPercentileCalibrator(config);
    case 'entropy':
      return createEntropyCalibrator(config);
    case 'mse':
      return createMseCalibrator(config);
  }
}
