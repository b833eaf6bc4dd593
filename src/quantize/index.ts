/**
 * INT8 post-training quantization (spec/quantization.md): static to QDQ ONNX (calibration
 * observers and data sources, the op table, the emitter), dynamic for MatMul/Gemm weights, the
 * fusion check both share, and FP16 conversion.
 */
export * from './calibrate/index.js';
export * from './data/index.js';
export { quantizeModel, assertNotQuantized, type QuantizeReport, type QuantizeRunOptions, type QuantizedNode } from './quantize-model.js';
export { resolveQuantizeOptions, QUANTIZE_DEFAULTS, type QuantizeOptions, type QuantScheme, type ResolvedQuantizeOptions } from './options.js';
export { quantizeDynamic, DYNAMIC_FUSED_OPS, type DynamicQuantizeOptions, type DynamicQuantizeReport } from './dynamic.js';
export { convertToFloat16, FP16_BLOCKED_OPS, type Float16Options, type Float16Report } from './fp16.js';
export { checkFusion, sessionConfigFor, type FusionReport, type FusionOutcome, type FusionTarget } from './fusion-check.js';
export { computeQuantParams, quantRange, roundHalfEven, quantizeValue, dequantizeValue, type QuantParams, type QuantRange, type QuantType } from './math.js';
export { OP_QUANTIZERS, opQuantizerFor, quantizableOpTypes } from './ops/op-table.js';
export type { OpQuantizer, NodePlan, PlanContext } from './ops/types.js';
export * from './budget/index.js';
export { quantizeWithAccuracyPasses, type AccuracyPassOptions, type AccuracyPassReport } from './accuracy-passes.js';
export { correctBiases, measureInputMeans } from './bias-correction.js';
