/**
 * The report's data: one JSON document per page, written beside the HTML so tools read the same
 * figures a person sees. Plain data only (no Maps), so `JSON.stringify` is the whole codec.
 */

/** `format`/`version` of the JSON document, for tools that read it. */
export const REPORT_FORMAT = 'kiln-report';
export const REPORT_VERSION = 1;

/** Latency of one model at one batch size, measured interleaved with the other models. */
export interface ReportLatency {
  readonly batch: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly samplesPerSecond: number;
}

/** How one float output of a model compares with the first model's. */
export interface ReportOutputFidelity {
  readonly output: string;
  readonly sqnrDb: number;
  /** Share (0…1) of rows whose argmax agrees with the first model's; undefined for one-column outputs. */
  readonly top1Agreement: number | undefined;
}

/** How the onnxruntime optimizer treated a quantized model's nodes. */
export interface ReportFusion {
  readonly checked: number;
  readonly fused: number;
  readonly compute: { readonly asked: number; readonly fused: number };
  readonly integerKernels: Readonly<Record<string, number>>;
  readonly unfused: readonly { readonly name: string; readonly opType: string; readonly became: string | undefined }[];
}

/** What quantization did to a model, when the report made it. */
export interface ReportQuantization {
  readonly mode: 'static' | 'dynamic' | 'fp16';
  /** One line: "mse, 16 samples", "none: dynamic INT8", … */
  readonly calibration: string;
  readonly quantizedNodes: number;
  readonly byOp: Readonly<Record<string, number>>;
  /** Seconds the run took (calibration, rewrite, write, fusion check, SQNR). */
  readonly seconds: number;
}

/** One model (a row of the tables, a bar of each chart). The first model is the reference. */
export interface ReportModel {
  /** Short label: "FP32", "static MSE", or the file name. */
  readonly name: string;
  readonly path: string;
  readonly bytes: number;
  readonly latency?: readonly ReportLatency[];
  /** Top-1/top-5 (0…1) on labelled data. */
  readonly accuracy?: { readonly top1: number; readonly top5: number; readonly samples: number };
  /** Fidelity to the first model on the data; absent for the first model itself. */
  readonly fidelity?: readonly ReportOutputFidelity[];
  /** SQNR (dB) of each quantized layer's weights against the float ones, in graph order. */
  readonly layers?: readonly { readonly name: string; readonly sqnrDb: number }[];
  readonly fusion?: ReportFusion;
  readonly quantization?: ReportQuantization;
  /** Why a model has no figure for something (e.g. "batch 8: the model's batch is fixed at 1"). */
  readonly notes?: readonly string[];
}

/** One report: what was compared, on what data and machine, and every figure. */
export interface ReportDocument {
  readonly format: typeof REPORT_FORMAT;
  readonly version: typeof REPORT_VERSION;
  readonly title: string;
  /** What made it: "kiln compare", "kiln optimize", "kiln quantize". */
  readonly command: string;
  readonly generated: string;
  readonly environment: { readonly cpu: string; readonly cores: number; readonly onnxruntime: string; readonly kiln: string };
  readonly data?: {
    readonly path: string;
    readonly samples: number;
    /** `accuracy` when the data is labelled (ImageFolder layout), `fidelity` (vs the first model) otherwise. */
    readonly metric: 'accuracy' | 'fidelity';
  };
  readonly models: readonly ReportModel[];
  /** How latency was measured, and any caveat a reader needs. */
  readonly notes: readonly string[];
}
