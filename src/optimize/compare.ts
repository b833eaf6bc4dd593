import { statSync } from 'node:fs';
import { cpus } from 'node:os';
import { checkReadableFile } from '../core/fs.js';
import { KILN_VERSION } from '../core/version.js';
import { compareLatency } from '../evaluate/compare-latency.js';
import type { LatencyResult } from '../evaluate/latency.js';
import { measureFidelity, type OutputFidelity } from '../evaluate/model-fidelity.js';
import { openCalibrationSource, type CalibrationSourceOptions } from '../quantize/data/index.js';
import type { CalibrationSource, Feeds } from '../quantize/data/types.js';
import { Engine, runtimeVersion } from '../runtime/engine.js';
import type { HostTensor } from '../runtime/tensors.js';
import { defaultInput, latencyFeeds } from './feeds.js';
import { isImageFolderTree, openLabelledData } from './labelled-data.js';

/** Data to evaluate on: a calibration-style source, or an ImageFolder tree (then labelled). */
export interface CompareData {
  readonly path: string;
  readonly options?: CalibrationSourceOptions;
  /** TorchServe `index_to_name.json` naming the class folders of an ImageFolder tree. */
  readonly labels?: string;
}

/** Options of {@link compareModels}; every default is in {@link COMPARE_DEFAULTS}. */
export interface CompareOptions {
  readonly data?: CompareData;
  /** Batch sizes timed. */
  readonly batches?: readonly number[];
  /** Timed runs of each model per batch size (interleaved). */
  readonly iterations?: number;
  readonly warmup?: number;
  /** Samples evaluated for fidelity or accuracy. */
  readonly samples?: number;
  /** Threads inside one operator. @defaultValue 0 (onnxruntime picks) */
  readonly intraOpThreads?: number;
  /** Session entries per model (e.g. S8S8 models need `session.qdqisint8allowed`). */
  readonly sessionConfigs?: readonly (Readonly<Record<string, string>> | undefined)[];
  readonly onProgress?: (progress: { readonly phase: 'evaluate' | 'latency'; readonly done: number; readonly total: number | undefined }) => void;
}

export const COMPARE_DEFAULTS = Object.freeze({ batches: [1, 8] as readonly number[], iterations: 30, warmup: 3, samples: 256 });

/** One model's figures; fidelity and accuracy are against the first model and the labels. */
export interface ComparedModel {
  readonly path: string;
  readonly bytes: number;
  readonly latency: readonly LatencyResult[];
  /** By float output name; undefined for the first model and without data. */
  readonly fidelity: Readonly<Record<string, OutputFidelity>> | undefined;
  /** Top-1/top-5 (0…1) on labelled data. */
  readonly accuracy: { readonly top1: number; readonly top5: number; readonly samples: number } | undefined;
  readonly notes: readonly string[];
}

/** What {@link compareModels} measured. */
export interface ModelComparison {
  readonly models: readonly ComparedModel[];
  readonly data: { readonly path: string; readonly samples: number; readonly metric: 'accuracy' | 'fidelity' } | undefined;
  readonly environment: { readonly cpu: string; readonly cores: number; readonly onnxruntime: string; readonly kiln: string };
  readonly iterations: number;
  readonly warmup: number;
}

/** Rank of `label` among a row of class scores (0: the top class). */
function rankOf(scores: Float32Array, label: number): number {
  const target = scores[label] ?? Number.NEGATIVE_INFINITY;
  let rank = 0;
  for (let index = 0; index < scores.length; index++) if (scores[index]! > target || (scores[index] === target && index < label)) rank++;
  return rank;
}

/** The class scores of a classifier's first float output with one row per sample, if it has one. */
function classScores(outputs: Readonly<Record<string, HostTensor>>): Float32Array | undefined {
  for (const tensor of Object.values(outputs)) {
    if (tensor.type !== 'float32') continue;
    const classes = tensor.dims[tensor.dims.length - 1] ?? 0;
    return classes > 1 && tensor.data.length === classes ? (tensor.data as Float32Array) : undefined;
  }
  return undefined;
}

/**
 * Compares models side by side: size, latency at each batch size measured interleaved in one
 * process (so ratios hold on a drifting machine), and, with data, fidelity of each model to the
 * first (SQNR per output, top-1 agreement) plus top-1/top-5 accuracy when the data is an
 * ImageFolder tree of labelled images. Each model is loaded once; samples are streamed.
 * @example const result = await compareModels(['fp32.onnx', 'int8.onnx'], { data: { path: 'images/', options: { preprocess } } });
 */
export async function compareModels(paths: readonly string[], options: CompareOptions = {}): Promise<ModelComparison> {
  for (const path of paths) checkReadableFile(path, 'model');
  const engines: Engine[] = [];
  try {
    for (const [index, path] of paths.entries()) {
      engines.push(await Engine.load(path, { label: path, intraOpThreads: options.intraOpThreads ?? 0, sessionConfig: options.sessionConfigs?.[index] ?? {} }));
    }
    const notes = paths.map((): string[] => []);
    const evaluation = options.data ? await evaluate(engines, options.data, options) : undefined;
    const batches = options.batches ?? COMPARE_DEFAULTS.batches;
    const iterations = options.iterations ?? COMPARE_DEFAULTS.iterations;
    const warmup = options.warmup ?? COMPARE_DEFAULTS.warmup;
    const latency = paths.map((): LatencyResult[] => []);
    const total = batches.length * iterations * paths.length;
    let base = 0;
    for (const batch of batches) {
      const feeds = engines.map((engine) => latencyFeeds(engine, evaluation?.firstSample, batch));
      const runnable = engines.flatMap((engine, index) => (typeof feeds[index] === 'string' ? [] : [index]));
      feeds.forEach((feed, index) => typeof feed === 'string' && notes[index]!.push(feed));
      const measured = await compareLatency(
        runnable.map((index) => engines[index]!),
        runnable.map((index) => feeds[index] as Feeds),
        { warmup, iterations, onProgress: (done) => options.onProgress?.({ phase: 'latency', done: base + done, total }) },
      );
      runnable.forEach((index, position) => latency[index]!.push(measured[position]!));
      base += iterations * paths.length;
    }
    return {
      models: paths.map((path, index) => ({
        path,
        bytes: statSync(path).size,
        latency: latency[index]!,
        fidelity: index === 0 ? undefined : evaluation?.fidelity[index - 1],
        accuracy: evaluation?.accuracy?.[index],
        notes: notes[index]!,
      })),
      data: evaluation && options.data ? { path: options.data.path, samples: evaluation.samples, metric: evaluation.accuracy ? 'accuracy' : 'fidelity' } : undefined,
      environment: { cpu: cpus()[0]?.model.trim() ?? 'unknown', cores: cpus().length, onnxruntime: runtimeVersion(), kiln: KILN_VERSION },
      iterations,
      warmup,
    };
  } finally {
    for (const engine of engines) await engine.release();
  }
}

interface Evaluation {
  readonly samples: number;
  readonly firstSample: Feeds | undefined;
  readonly fidelity: readonly Readonly<Record<string, OutputFidelity>>[];
  readonly accuracy: readonly ComparedModel['accuracy'][] | undefined;
}

/** One streamed pass over the data: fidelity of every model to the first, and accuracy when labelled. */
async function evaluate(engines: readonly Engine[], data: CompareData, options: CompareOptions): Promise<Evaluation> {
  const input = data.options?.input ?? defaultInput(engines[0]!);
  const sourceOptions: CalibrationSourceOptions = { ...data.options, ...(input ? { input } : {}) };
  const limit = options.samples ?? COMPARE_DEFAULTS.samples;
  const labelled = isImageFolderTree(data.path) ? openLabelledData(data.path, sourceOptions, data.labels) : undefined;
  const source: CalibrationSource = labelled?.source ?? openCalibrationSource(data.path, sourceOptions);
  let firstSample: Feeds | undefined;
  const counted = (async function* () {
    for await (const sample of source.samples()) {
      firstSample ??= sample;
      yield sample;
    }
  })();
  const hits = engines.map(() => ({ top1: 0, top5: 0, scored: 0 }));
  let sample = 0;
  const total = source.count === undefined ? undefined : Math.min(limit, source.count);
  const { samples, models } = await measureFidelity(
    engines[0]!,
    engines.slice(1),
    counted,
    limit,
    (done) => options.onProgress?.({ phase: 'evaluate', done, total }),
    (outputs) => {
      const label = labelled?.labels[sample++];
      if (label === undefined) return;
      outputs.forEach((output, index) => {
        const scores = classScores(output);
        if (!scores) return;
        const rank = rankOf(scores, label);
        const hit = hits[index]!;
        hit.scored++;
        if (rank === 0) hit.top1++;
        if (rank < 5) hit.top5++;
      });
    },
  );
  const accuracy = labelled && hits.some((hit) => hit.scored > 0) ? hits.map((hit) => (hit.scored > 0 ? { top1: hit.top1 / hit.scored, top5: hit.top5 / hit.scored, samples: hit.scored } : undefined)) : undefined;
  return { samples, firstSample, fidelity: models, accuracy };
}
