/**
 * The worker-thread side of threaded calibration (calibration-run.ts): a calibrator built from
 * the config in `workerData` observes the batches the main thread transfers while that thread
 * runs onnxruntime on the next sample, acknowledges each batch, and answers `finish` with its
 * {@link Calibrator.snapshot}.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createCalibrator } from './index.js';
import type { CalibrationConfig } from './types.js';

/** Messages from the main thread. */
export type ObserveMessage = { readonly batch: readonly (readonly [string, Float32Array])[] } | { readonly finish: true };

const calibrator = createCalibrator((workerData as { config: CalibrationConfig }).config);
parentPort!.on('message', (message: ObserveMessage) => {
  if ('finish' in message) {
    parentPort!.postMessage({ state: calibrator.snapshot!() });
    return;
  }
  for (const [name, values] of message.batch) calibrator.observe(name, values);
  parentPort!.postMessage({ observed: true });
});
