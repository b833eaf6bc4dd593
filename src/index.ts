/**
 * `kiln`: the public API for working with models from code (read and write ONNX, run them in
 * onnxruntime, quantize, measure). Every name is listed here on purpose: what is exported is what
 * the project keeps stable, and an inner module can change without a user noticing. The other
 * layers a user builds on have their own entry points: `kiln/archive` (model archives),
 * `kiln/server` (the model server) and `kiln/handler` (what a handler module imports).
 */

// Errors, logging, version.
export { KilnError, isKilnError, describeError, type ErrorCode, type ErrorKind, type KilnErrorOptions } from './core/errors.js';
export { createLogger, silentLogger, type Logger, type LoggerFactoryOptions } from './core/log.js';
export { KILN_VERSION } from './core/version.js';

// ONNX models: read, write, build, look inside.
export {
  readModel,
  writeModel,
  decodeModel,
  encodeModel,
  type LoadedModel,
  type ReadModelOptions,
  type WriteModelOptions,
  type WriteModelResult,
} from './onnx/model-io.js';
export { summarizeModel, type ModelSummary, type SignatureEntry } from './onnx/summary.js';
export { GraphView, opsetVersion, type Dim, type ValueType } from './onnx/graph.js';
export { decodeTensor, encodeTensor, float16ToFloat32, float32ToFloat16, type DecodedTensor, type TensorInit } from './onnx/tensor.js';
export { makeAttribute, makeModel, makeNode, makeValueInfo, type AttributeValue, type ModelInit, type NodeInit } from './onnx/build.js';
export { DataType } from './onnx/dtype.js';
export type { AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto } from './onnx/gen/onnx_pb.js';

// onnxruntime: sessions and tensors.
export {
  Engine,
  availableProviders,
  runtimeVersion,
  type EngineConfig,
  type EngineOptions,
  type ExecutionProvider,
  type GraphOptimizationLevel,
} from './runtime/engine.js';
export { makeFeeds, type FeedOptions, type TensorSignature } from './runtime/feeds.js';
export { hostTensor, type HostTensor, type HostTensorType } from './runtime/tensors.js';
export { parseNpy } from './runtime/npy.js';

// The pipeline the CLI runs: one quantize entry for every mode (with accuracy targets), archives,
// side-by-side comparisons and the FP32 → FP16 → INT8 ladder.
export { quantize, quantizeArchive, type QuantizeArchiveOptions, type QuantizeArchiveReport } from './optimize/index.js';
export { compareModels, runLadder, type CompareOptions, type ModelComparison, type LadderOptions, type LadderResult } from './optimize/index.js';
export type {
  AccuracyTarget,
  DynamicMode,
  Float16Mode,
  ModelData,
  QuantizeMode,
  QuantizeOptions as QuantizePipelineOptions,
  QuantizeRunReport,
  StaticMode,
} from './optimize/index.js';
export { quantizeWithBudget, type AccuracyBudget, type BudgetOptions, type BudgetReport } from './quantize/budget/index.js';
export { quantizeWithAccuracyPasses, type AccuracyPassOptions, type AccuracyPassReport } from './quantize/accuracy-passes.js';

// Quantization: static INT8 (calibrated QDQ), dynamic INT8, FP16, and the fusion check.
export { quantizeModel, type QuantizeReport, type QuantizeRunOptions, type QuantizedNode } from './quantize/quantize-model.js';
export { QUANTIZE_DEFAULTS, resolveQuantizeOptions, type QuantizeOptions, type QuantScheme, type ResolvedQuantizeOptions } from './quantize/options.js';
export { quantizeDynamic, type DynamicQuantizeOptions, type DynamicQuantizeReport } from './quantize/dynamic.js';
export { convertToFloat16, type Float16Options, type Float16Report } from './quantize/fp16.js';
export { checkFusion, type FusionOutcome, type FusionReport, type FusionTarget } from './quantize/fusion-check.js';
export { CALIBRATION_DEFAULTS, CALIBRATION_METHODS, calibrationConfig, loadRanges, saveRanges, type SavedRanges } from './quantize/calibrate/index.js';
export {
  openCalibrationSource,
  imageFolderSource,
  npyFolderSource,
  moduleSource,
  parseImagePreprocess,
  resolveImagePreprocess,
  type CalibrationSource,
  type CalibrationSourceOptions,
  type Feeds,
  type ImagePreprocess,
  type ImagePreprocessOptions,
  type ImageResize,
} from './quantize/data/index.js';

// Evaluation: latency, and how far a quantized model's outputs drift from the float model's.
export { measureLatency, LATENCY_DEFAULTS, type LatencyOptions, type LatencyResult } from './evaluate/latency.js';
export { compareLatency, type CompareLatencyOptions } from './evaluate/compare-latency.js';
export { SqnrAccumulator, sqnrDb, maxAbsError, argmax, top1Agreement, thresholdAgreement, type Agreement } from './evaluate/fidelity.js';
