/**
 * Static INT8 quantization with the optional accuracy passes of spec §8b, each behind its own
 * option because each costs something: cross-layer equalization rescales weights (FP32
 * outputs unchanged; ranges must then be calibrated on the equalized model), and bias
 * correction needs a second pass over the calibration data.
 */
import type { ModelProto } from '../onnx/gen/onnx_pb.js';
import { equalizeCrossLayer } from '../onnx/passes/equalize-cross-layer.js';
import { PREPARE_PASSES, runPasses } from '../onnx/passes/index.js';
import { correctBiases, measureInputMeans } from './bias-correction.js';
import type { CalibrationSource } from './data/types.js';
import { resolveQuantizeOptions } from './options.js';
import { assertNotQuantized, quantizeModel, type QuantizeReport, type QuantizeRunOptions } from './quantize-model.js';

/** Which accuracy passes to run. Both default to off. */
export interface AccuracyPassOptions {
  /** Cross-layer equalization of Conv → (Relu) → Conv pairs before calibration. @defaultValue false */
  readonly equalize?: boolean;
  /** Empirical bias correction of quantized Conv and Gemm layers (needs calibration data). @defaultValue false */
  readonly biasCorrection?: boolean;
}

/** What the accuracy passes changed, beside the quantizer's own report. */
export interface AccuracyPassReport {
  /** Conv pairs equalized (0 when off). */
  readonly equalizedPairs: number;
  /** Biases corrected (0 when off). */
  readonly correctedBiases: number;
}

/**
 * `quantizeModel` with cross-layer equalization and/or bias correction. The model is prepared
 * once; calibration runs once on the (equalized) model and its ranges are replayed for the
 * bias-corrected model, whose activations differ from the calibrated ones only by the small
 * shifts being removed.
 * @example await quantizeWithAccuracyPasses(model, calib, { equalize: true, biasCorrection: true, perChannel: false })
 */
export async function quantizeWithAccuracyPasses(
  model: ModelProto,
  source: CalibrationSource | undefined,
  options: QuantizeRunOptions & AccuracyPassOptions,
): Promise<{ model: ModelProto; report: QuantizeReport; passes: AccuracyPassReport }> {
  const { equalize = false, biasCorrection = false, ...quantizeOptions } = options;
  assertNotQuantized(model);
  let prepared = runPasses(model, PREPARE_PASSES).model;
  let equalizedPairs = 0;
  if (equalize) {
    const result = equalizeCrossLayer(prepared);
    prepared = result.model;
    equalizedPairs = result.changes;
  }
  const first = await quantizeModel(prepared, source, quantizeOptions);
  if (!biasCorrection || !source) return { ...first, passes: { equalizedPairs, correctedBiases: 0 } };
  const labels = new Set(first.report.quantizedNodes.map((node) => node.name));
  const means = await measureInputMeans(prepared, labels, source, options.intraOpThreads ?? 0);
  const corrected = correctBiases(prepared, means, labels, resolveQuantizeOptions(quantizeOptions));
  const second = await quantizeModel(corrected.model, undefined, { ...quantizeOptions, ranges: first.report.ranges });
  return { model: second.model, report: { ...second.report, calibration: first.report.calibration }, passes: { equalizedPairs, correctedBiases: corrected.corrected } };
}
