/**
 * The public shapes of the quantize pipeline: one mode union in, one report out. The CLI, the
 * demo, the benchmarks and `kiln optimize` all speak these, so a field added here reaches every
 * caller at once.
 */
import type { ModelProto } from '../onnx/gen/onnx_pb.js';
import type { CalibrationConfig } from '../quantize/calibrate/types.js';
import type { CalibrationSourceOptions } from '../quantize/data/index.js';
import type { CalibrationSource } from '../quantize/data/types.js';
import type { Float16Report } from '../quantize/fp16.js';
import type { FusionReport } from '../quantize/fusion-check.js';
import type { QuantScheme } from '../quantize/options.js';
import type { QuantizedNode } from '../quantize/quantize-model.js';
import type { AccuracyPassReport } from '../quantize/accuracy-passes.js';
import type { BudgetReport } from '../quantize/budget/index.js';

/** Static INT8 (QDQ): activation ranges from calibration data, or replayed from a ranges file. */
export interface StaticMode {
  readonly kind: 'static';
  /** How ranges are estimated, or `{ replay: file }` to reuse ranges saved by an earlier run. */
  readonly calibration: CalibrationConfig | { readonly replay: string };
  readonly scheme: QuantScheme;
  readonly perChannel: boolean;
  readonly reduceRange: boolean;
  readonly excludeNodes: readonly string[];
  readonly excludeOpTypes: readonly string[];
  /** When set, only these op types are quantized. */
  readonly opTypes?: readonly string[];
  /** Write the ranges used (calibrated or replayed) to this JSON file. */
  readonly saveRanges?: string;
  /** Cross-layer equalization before calibration (spec §8b; FP32 outputs unchanged). @defaultValue false */
  readonly equalize?: boolean;
  /** Empirical bias correction of quantized Conv/Gemm (needs calibration data; not with a budget). @defaultValue false */
  readonly biasCorrection?: boolean;
  /** Keep the most sensitive layers float until this target holds on held-out data. */
  readonly budget?: AccuracyTarget;
}

/**
 * An accuracy budget and the held-out data it is measured on. `max-drop`: top-1 accuracy on a
 * labelled ImageFolder tree (`dir/<label>/*.jpg`, classes matched to `labels`, an
 * index_to_name.json) may fall at most `maxDropPp` percentage points below FP32. `min-sqnr`:
 * the worst output's SQNR against FP32 stays at or above `minSqnrDb`, on any data.
 */
export type AccuracyTarget =
  | {
      readonly kind: 'max-drop';
      readonly maxDropPp: number;
      readonly heldOut: string;
      readonly labels?: string;
      readonly options?: CalibrationSourceOptions;
      /** @defaultValue 128 */
      readonly samples?: number;
    }
  | { readonly kind: 'min-sqnr'; readonly minSqnrDb: number; readonly heldOut: ModelData; readonly samples?: number };

/** Dynamic INT8: MatMul/Gemm weights int8, activations quantized at run time; no data needed. */
export interface DynamicMode {
  readonly kind: 'dynamic';
  readonly perChannel: boolean;
  readonly excludeNodes: readonly string[];
}

/** Float16 weights and activations, float32 graph inputs and outputs; no data needed. */
export interface Float16Mode {
  readonly kind: 'fp16';
  /** Nodes kept float32 beside the built-in block list. */
  readonly excludeNodes: readonly string[];
  readonly excludeOpTypes: readonly string[];
}

export type QuantizeMode = StaticMode | DynamicMode | Float16Mode;

/**
 * Where samples come from: a path opened with `openCalibrationSource` (after the model is read,
 * so a folder of images feeds the model's only input by default), or a source already open.
 */
export type ModelData = { readonly path: string; readonly options?: CalibrationSourceOptions } | { readonly source: CalibrationSource };

/** One step of a run, for a progress bar; `total` is undefined while unknown. */
export interface QuantizeProgress {
  readonly phase: 'calibrate' | 'sqnr';
  readonly done: number;
  readonly total: number | undefined;
}

/** Options of {@link quantize}. */
export interface QuantizeOptions {
  readonly mode: QuantizeMode;
  /** Where the model is written: only once it passed the fusion check. */
  readonly output: string;
  /** Replace an existing output file. @defaultValue false (an existing file is refused up front) */
  readonly force?: boolean;
  /** Calibration data (static) and the samples the SQNR per output is measured on (every mode). */
  readonly data?: ModelData;
  /** Keep the model when some quantized nodes stay float ops in onnxruntime. @defaultValue false */
  readonly allowUnfused?: boolean;
  /** Samples compared FP32 vs quantized for the SQNR per output (0: none). @defaultValue 32 */
  readonly sqnrSamples?: number;
  readonly onProgress?: (progress: QuantizeProgress) => void;
  /** Threads inside one operator while calibrating. @defaultValue 0 (onnxruntime picks) */
  readonly intraOpThreads?: number;
}

/** A model already read, so that a caller running several modes parses it once. */
export interface ParsedModel {
  readonly path: string;
  readonly model: ModelProto;
}

/** How a run got its activation ranges, or that it needed none. */
export type CalibrationInfo =
  | { readonly method: string; readonly samples: number }
  | { readonly replayed: string }
  | { readonly dynamic: true }
  | { readonly fp16: true };

/** Milliseconds spent in each phase of a run. */
export interface QuantizeTiming {
  readonly readMs: number;
  /** Calibration and rewriting (static), or the rewrite alone. */
  readonly quantizeMs: number;
  readonly writeMs: number;
  readonly fusionCheckMs: number;
  readonly sqnrMs: number;
  readonly totalMs: number;
}

/** Everything one {@link quantize} run did and measured; nothing is printed. */
export interface QuantizeRunReport {
  readonly mode: QuantizeMode['kind'];
  readonly input: { readonly path: string; readonly bytes: number };
  readonly output: { readonly path: string; readonly bytes: number };
  /** Output bytes ÷ input bytes. */
  readonly sizeRatio: number;
  readonly calibration: CalibrationInfo;
  readonly quantizedNodes: readonly QuantizedNode[];
  /** Nodes with a quantizer that stayed float, and why (static and dynamic). */
  readonly skippedNodes: readonly { readonly name: string; readonly opType: string; readonly reason: string }[];
  /** Quantized nodes counted by op type. */
  readonly byOp: Readonly<Record<string, number>>;
  /** Relu/Clip folded into their producer's range (static). */
  readonly absorbed: number;
  /** SQNR (dB) of each quantized weight against its float values: the per-layer figure a run has without data. */
  readonly weightSqnr: ReadonlyMap<string, number>;
  readonly worstWeight: { readonly name: string; readonly sqnrDb: number } | undefined;
  readonly fusion: FusionReport;
  /** SQNR (dB) of each float model output, quantized vs FP32, on the first data samples; undefined without data. */
  readonly sqnr: Readonly<Record<string, number>> | undefined;
  /** FP16 mode: what the conversion did. */
  readonly fp16?: Float16Report;
  /** Static mode: the graph passes run before quantizing (BatchNorm folding, …) and their changes. */
  readonly passes?: readonly { readonly name: string; readonly changes: number }[];
  /** Static mode with a budget: the search's outcome (layers kept float, INT8 MAC share, sensitivity). */
  readonly budget?: Omit<BudgetReport, 'quantize'>;
  /** Static mode with accuracy passes: what they changed. */
  readonly accuracyPasses?: AccuracyPassReport;
  readonly timing: QuantizeTiming;
}
