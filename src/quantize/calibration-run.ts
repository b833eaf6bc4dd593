import { create } from '@bufbuild/protobuf';
import { KilnError, describeError, isKilnError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { silentLogger } from '../core/log.js';
import { editModel } from '../onnx/edit.js';
import { ValueInfoProtoSchema, type ModelProto } from '../onnx/gen/onnx_pb.js';
import { encodeModel } from '../onnx/model-io.js';
import { Engine } from '../runtime/engine.js';
import type { Calibrator } from './calibrate/types.js';
import { checkSampleAgainst } from './data/index.js';
import type { CalibrationSource } from './data/types.js';

/** Options for {@link observeCalibration}. */
export interface CalibrationRunOptions {
  readonly calibrator: Calibrator;
  /** Called after every sample with the count so far and the total when known. */
  readonly onProgress?: (done: number, total: number | undefined) => void;
  /** @defaultValue 0 (onnxruntime decides) */
  readonly intraOpThreads?: number;
  readonly logger?: Logger;
}

/**
 * Runs the model once per calibration sample with every target tensor exposed as an output
 * (optimizations off, so the tensors exist as named), and feeds each float32 result to the
 * calibrator, which keeps a summary and drops the values: memory does not grow with samples.
 * @returns the number of samples seen
 */
export async function observeCalibration(
  model: ModelProto,
  targets: readonly string[],
  source: CalibrationSource,
  options: CalibrationRunOptions,
): Promise<number> {
  const logger = options.logger ?? silentLogger();
  const existing = new Set(model.graph!.output.map((output) => output.name));
  const extra = targets.filter((name) => !existing.has(name)).map((name) => create(ValueInfoProtoSchema, { name }));
  const augmented = editModel(model, { outputs: [...model.graph!.output, ...extra] });
  const engine = await Engine.load(encodeModel(augmented), {
    graphOptimizationLevel: 'disabled',
    intraOpThreads: options.intraOpThreads ?? 0,
    label: 'calibration model',
    logger,
  });
  const wanted = new Set(targets);
  let count = 0;
  try {
    for await (const sample of source.samples()) {
      checkSampleAgainst(engine.inputs, sample, count);
      let outputs;
      try {
        outputs = await engine.run(sample);
      } catch (error) {
        const reason = isKilnError(error) ? error.message.replace(/^calibration model: /, '') : describeError(error);
        throw new KilnError('KILN_QUANTIZE_CALIBRATION_INVALID', `calibration sample ${count}: the model cannot run on it: ${reason}`, {
          cause: error,
          details: { sample: count },
        });
      }
      for (const [name, tensor] of Object.entries(outputs)) {
        if (wanted.has(name) && tensor.type === 'float32') options.calibrator.observe(name, tensor.data as Float32Array);
      }
      count++;
      options.onProgress?.(count, source.count);
    }
  } finally {
    await engine.release();
  }
  if (count === 0) {
    throw new KilnError('KILN_QUANTIZE_CALIBRATION_INVALID', `calibration data is empty: ${source.description} gave no samples`);
  }
  logger.debug({ samples: count, tensors: options.calibrator.tensors().length }, 'calibration observed');
  return count;
}
