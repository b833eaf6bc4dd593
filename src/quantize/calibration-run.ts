import { availableParallelism } from 'node:os';
import { create } from '@bufbuild/protobuf';
import { KilnError, describeError, isKilnError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { silentLogger } from '../core/log.js';
import { editModel } from '../onnx/edit.js';
import { ValueInfoProtoSchema, type ModelProto } from '../onnx/gen/onnx_pb.js';
import { encodeModel } from '../onnx/model-io.js';
import { Engine } from '../runtime/engine.js';
import type { TensorSignature } from '../runtime/feeds.js';
import type { HostTensor } from '../runtime/tensors.js';
import type { Calibrator, CalibrationConfig } from './calibrate/types.js';
import { checkSampleAgainst } from './data/index.js';
import { canObserveInThread, inlineSink, threadSink } from './observer-sink.js';
import type { CalibrationSource, Feeds } from './data/types.js';

/**
 * Defaults of {@link observeCalibration}'s batching, written once.
 * - `maxBatch`: 16 samples per run at most.
 * - `batchBytes`: 64 MiB of exposed activations per run. Every calibrated tensor is a model
 *   output, so a run holds all of them at once, and onnxruntime-node holds them twice (its
 *   buffers and the JavaScript copies): a 224² MobileNetV2 exposes 50 MiB per image, and
 *   stacking 5 of them raised the peak RSS from 0.35 to 0.85 GiB for ~10 % less inference CPU.
 *   So large models run one sample at a time and small ones, where the per-run overhead
 *   dominates, get up to 16.
 */
export const CALIBRATION_RUN_DEFAULTS = Object.freeze({ maxBatch: 16, batchBytes: 64 * 2 ** 20 });

/** Options for {@link observeCalibration}. */
export interface CalibrationRunOptions {
  readonly calibrator: Calibrator;
  /** Called after every run with the count of samples so far and the total when known. */
  readonly onProgress?: (done: number, total: number | undefined) => void;
  /** @defaultValue one fewer than the cores when a worker thread observes, else 0 (onnxruntime decides) */
  readonly intraOpThreads?: number;
  /**
   * Update the summaries in a worker thread while onnxruntime runs the next sample.
   * @defaultValue true when the machine has 2+ cores and the calibrator supports snapshot/restore
   */
  readonly observeInThread?: boolean;
  /** Samples stacked per run at most; 1 runs them one by one. @defaultValue {@link CALIBRATION_RUN_DEFAULTS}.maxBatch */
  readonly maxBatch?: number;
  /** Bytes of exposed activations one run may produce. @defaultValue {@link CALIBRATION_RUN_DEFAULTS}.batchBytes */
  readonly batchBytes?: number;
  readonly logger?: Logger;
}

/** Whether a calibrator's result ignores how samples are grouped: not for a per-batch moving average. */
function batchInvariant(config: CalibrationConfig): boolean {
  return !(config.method === 'minmax' && config.movingAverage !== undefined);
}

/** Inputs that all have a free leading axis (symbolic or unknown), the batch convention. */
function batchAxisIsFree(inputs: readonly TensorSignature[]): boolean {
  return inputs.every((input) => input.shape.length > 0 && !(typeof input.shape[0] === 'number' && input.shape[0] >= 0));
}

/** Samples that can share a run: the same inputs with the same types and trailing dims. */
function stackable(a: Feeds, b: Feeds): boolean {
  const names = Object.keys(a);
  if (names.length !== Object.keys(b).length) return false;
  return names.every((name) => {
    const x = a[name]!;
    const y = b[name];
    return y !== undefined && x.type === y.type && x.type !== 'string' && x.dims.length === y.dims.length && x.dims.every((dim, axis) => axis === 0 || dim === y.dims[axis]);
  });
}

/** Concatenates samples along axis 0 (a single sample is returned as it is). */
function stack(samples: readonly Feeds[]): Feeds {
  if (samples.length === 1) return samples[0]!;
  const feeds: Record<string, HostTensor> = {};
  for (const name of Object.keys(samples[0]!)) {
    const parts = samples.map((sample) => sample[name]!);
    const first = parts[0]!;
    const length = parts.reduce((sum, part) => sum + part.data.length, 0);
    const Array = first.data.constructor as new (length: number) => Exclude<HostTensor['data'], string[]>;
    const data = new Array(length);
    let offset = 0;
    for (const part of parts) {
      data.set(part.data as never, offset);
      offset += part.data.length;
    }
    feeds[name] = { type: first.type, dims: [parts.reduce((sum, part) => sum + part.dims[0]!, 0), ...first.dims.slice(1)], data };
  }
  return feeds;
}

function copyOutputs(outputs: Readonly<Record<string, HostTensor>>): Record<string, HostTensor> {
  const copies: Record<string, HostTensor> = {};
  for (const [name, tensor] of Object.entries(outputs)) copies[name] = { ...tensor, data: Array.isArray(tensor.data) ? [...tensor.data] : (tensor.data as Float32Array).slice() };
  return copies;
}

function bytesOf(outputs: Readonly<Record<string, HostTensor>>): number {
  let bytes = 0;
  for (const tensor of Object.values(outputs)) bytes += typeof tensor.data === 'object' && 'byteLength' in tensor.data ? tensor.data.byteLength : 0;
  return bytes;
}

/** True when every output of the stacked run starts with the lone run's output, bit for bit. */
function startsWith(stacked: Readonly<Record<string, HostTensor>>, alone: Readonly<Record<string, HostTensor>>, samples: number): boolean {
  return Object.entries(alone).every(([name, tensor]) => {
    const other = stacked[name];
    if (!other || other.type !== tensor.type || typeof tensor.data !== 'object' || !('buffer' in tensor.data) || !('buffer' in other.data)) return false;
    if (other.data.length !== samples * tensor.data.length) return false;
    const mine = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
    return Buffer.compare(mine, new Uint8Array(other.data.buffer, other.data.byteOffset, mine.byteLength)) === 0;
  });
}

/**
 * Runs the model on the calibration samples with every target tensor exposed as an output
 * (optimizations off, so the tensors exist as named), and feeds each float32 result to the
 * calibrator, which keeps a summary and drops the values: memory does not grow with samples.
 *
 * Samples are stacked on axis 0 when every input's leading axis is free and the calibrator does
 * not depend on grouping (min/max and histograms are the same over one batch or many; a min-max
 * moving average is not). The batch size follows from the first sample's activation bytes
 * ({@link CALIBRATION_RUN_DEFAULTS}). The first stacked run repeats sample 0, and stacking is
 * kept only if that run's outputs begin with sample 0's lone outputs bit for bit — a model whose
 * leading axis is not a batch (or that mixes samples) falls back to one sample per run, as does
 * a model that fails on a stacked run. So the ranges are the ones a one-by-one run gives.
 *
 * With a spare core the summaries are updated in a worker thread while onnxruntime runs the next
 * sample on the others (observer-sink.ts), and the calibrator gets the worker's summaries at the
 * end; the result is the same as observing here.
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
  const threaded = options.observeInThread ?? canObserveInThread(options.calibrator);
  const engine = await Engine.load(encodeModel(augmented), {
    graphOptimizationLevel: 'disabled',
    // The observing thread takes a core of its own.
    intraOpThreads: options.intraOpThreads ?? (threaded ? Math.max(1, availableParallelism() - 1) : 0),
    label: 'calibration model',
    logger,
  });
  const sink = threaded ? threadSink(options.calibrator) : inlineSink(options.calibrator);
  const wanted = new Set(targets);
  /** Hands float32 outputs to the sink, each without its first `skip[name]` values. */
  const observe = (outputs: Readonly<Record<string, HostTensor>>, skip?: Readonly<Record<string, HostTensor>>): Promise<void> => {
    const batch: [string, Float32Array][] = [];
    for (const [name, tensor] of Object.entries(outputs)) {
      if (!wanted.has(name) || tensor.type !== 'float32') continue;
      const data = tensor.data as Float32Array;
      batch.push([name, skip ? data.subarray(skip[name]!.data.length) : data]);
    }
    return sink.observe(batch);
  };
  const run = async (feeds: Feeds, index: number): Promise<Record<string, HostTensor>> => {
    try {
      return await engine.run(feeds);
    } catch (error) {
      const reason = isKilnError(error) ? error.message.replace(/^calibration model: /, '') : describeError(error);
      throw new KilnError('KILN_QUANTIZE_CALIBRATION_INVALID', `calibration sample ${index}: the model cannot run on it: ${reason}`, {
        cause: error,
        details: { sample: index },
      });
    }
  };
  let count = 0;
  let batch = 1;
  let verified = false;
  let first: { feeds: Feeds; outputs: Record<string, HostTensor> } | undefined;
  const pending: Feeds[] = [];
  const report = (): void => options.onProgress?.(count, source.count);

  const runOneByOne = async (samples: readonly Feeds[]): Promise<void> => {
    for (const sample of samples) {
      await observe(await run(sample, count));
      count++;
      report();
    }
  };
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const samples = pending.splice(0);
    // The first stacked run leads with sample 0 again, to check stacking changes nothing.
    const check = verified ? undefined : first;
    if (samples.length === 1 && !check) return runOneByOne(samples);
    const stacked = check ? [check.feeds, ...samples] : samples;
    let outputs: Record<string, HostTensor>;
    try {
      outputs = await engine.run(stack(stacked));
    } catch (error) {
      logger.debug({ error: describeError(error) }, 'stacked calibration run failed; one sample per run from here');
      batch = 1;
      first = undefined;
      return runOneByOne(samples);
    }
    if (check) {
      first = undefined;
      if (!startsWith(outputs, check.outputs, stacked.length)) {
        logger.debug('stacked outputs differ from one-by-one outputs; one sample per run from here');
        batch = 1;
        return runOneByOne(samples);
      }
      verified = true;
      await observe(outputs, check.outputs);
    } else await observe(outputs);
    count += samples.length;
    report();
  };

  try {
    let index = 0;
    for await (const sample of source.samples()) {
      checkSampleAgainst(engine.inputs, sample, index++);
      if (index === 1) {
        const outputs = await run(sample, 0);
        const limit = options.maxBatch ?? CALIBRATION_RUN_DEFAULTS.maxBatch;
        if (limit > 1 && batchInvariant(options.calibrator.config) && batchAxisIsFree(engine.inputs)) {
          batch = Math.max(1, Math.min(limit, Math.floor((options.batchBytes ?? CALIBRATION_RUN_DEFAULTS.batchBytes) / Math.max(1, bytesOf(outputs)))));
          // A copy: the sink may transfer the buffers to its thread.
          if (batch > 1) first = { feeds: sample, outputs: copyOutputs(outputs) };
        }
        logger.debug({ batch, threaded }, 'calibration batch size');
        await observe(outputs);
        count++;
        report();
        continue;
      }
      if (pending.length > 0 && !stackable(pending[0]!, sample)) await flush();
      pending.push(sample);
      // The checking run carries sample 0 as well: one fewer new sample keeps it within the bytes.
      if (pending.length >= (first ? batch - 1 : batch)) await flush();
    }
    await flush();
    await sink.finish();
  } catch (error) {
    await sink.close();
    throw error;
  } finally {
    await engine.release();
  }
  if (count === 0) {
    throw new KilnError('KILN_QUANTIZE_CALIBRATION_INVALID', `calibration data is empty: ${source.description} gave no samples`);
  }
  logger.debug({ samples: count, batch, tensors: options.calibrator.tensors().length }, 'calibration observed');
  return count;
}
