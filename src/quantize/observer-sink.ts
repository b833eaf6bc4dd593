/**
 * Where calibration outputs go: straight into the calibrator on this thread, or, when a second
 * core is free, to a worker thread that owns a twin of the calibrator. onnxruntime-node's
 * `session.run` occupies the JavaScript thread, so histogram updates on that thread wait for
 * inference and inference waits for them; in a worker, the updates for sample k run while
 * onnxruntime computes sample k + 1. Output buffers are transferred, not copied, and one batch
 * at most waits in the worker, so memory stays one sample's activations above a serial run.
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { KilnError, describeError } from '../core/errors.js';
import { siblingModule, startTypeScriptThread } from '../core/ts-thread.js';
import type { Calibrator, CalibratorState } from './calibrate/types.js';
import type { ObserveMessage } from './calibrate/observe-thread.js';

/** Takes one run's calibrated outputs; `finish` leaves every summary in the calibrator. */
export interface ObserverSink {
  /** Resolves once the caller may run the next sample. */
  observe(batch: readonly (readonly [string, Float32Array])[]): Promise<void>;
  finish(): Promise<void>;
  /** Stops a worker without waiting (on failure). */
  close(): Promise<void>;
}

/** Observes on the calling thread. */
export function inlineSink(calibrator: Calibrator): ObserverSink {
  return {
    observe: async (batch) => {
      for (const [name, values] of batch) calibrator.observe(name, values);
    },
    finish: async () => undefined,
    close: async () => undefined,
  };
}

/** Whether a worker can take the observing: a calibrator that can move its state, a spare core. */
export function canObserveInThread(calibrator: Calibrator): boolean {
  return availableParallelism() > 1 && typeof calibrator.snapshot === 'function' && typeof calibrator.restore === 'function' && calibrator.tensors().length === 0;
}

/** Observes in a worker thread; see the module comment. */
export function threadSink(calibrator: Calibrator): ObserverSink {
  const worker: Worker = startTypeScriptThread(siblingModule('calibrate/observe-thread', import.meta.url), { workerData: { config: calibrator.config } });
  let failure: unknown;
  let waiting: { resolve: (value: unknown) => void; reject: (error: unknown) => void } | undefined;
  const settle = (fn: (w: NonNullable<typeof waiting>) => void): void => {
    const current = waiting;
    waiting = undefined;
    if (current) fn(current);
  };
  worker.on('message', (message: unknown) => settle((w) => w.resolve(message)));
  worker.on('error', (error) => {
    failure = error;
    settle((w) => w.reject(error));
  });
  worker.on('exit', (code) => {
    failure ??= new Error(`the calibration thread exited with code ${code}`);
    settle((w) => w.reject(failure));
  });
  const reply = (): Promise<unknown> =>
    failure !== undefined ? Promise.reject(failure) : new Promise((resolve, reject) => (waiting = { resolve, reject }));
  let inFlight: Promise<unknown> | undefined;
  const wrap = (error: unknown): KilnError =>
    new KilnError('KILN_QUANTIZE_CALIBRATION_INVALID', `the calibration thread failed: ${describeError(error)}`, { cause: error });
  const send = (message: ObserveMessage, transfer: ArrayBuffer[] = []): void => worker.postMessage(message, transfer);
  return {
    observe: async (batch) => {
      // One batch in the worker at a time: wait for the previous one before handing over this one.
      if (inFlight) await inFlight.catch((error: unknown) => Promise.reject(wrap(error)));
      const buffers = new Set<ArrayBuffer>();
      for (const [, values] of batch) buffers.add(values.buffer as ArrayBuffer);
      inFlight = reply();
      inFlight.catch(() => undefined);
      send({ batch }, [...buffers]);
    },
    finish: async () => {
      try {
        if (inFlight) await inFlight;
        const done = reply();
        send({ finish: true });
        const { state } = (await done) as { state: CalibratorState };
        calibrator.restore!(state);
      } catch (error) {
        throw wrap(error);
      } finally {
        await worker.terminate();
      }
    },
    close: async () => {
      await worker.terminate();
    },
  };
}
