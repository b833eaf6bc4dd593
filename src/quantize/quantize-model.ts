import { KilnError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { silentLogger } from '../core/log.js';
import type { ModelProto } from '../onnx/gen/onnx_pb.js';
import { GraphView } from '../onnx/graph.js';
import { PREPARE_PASSES, runPasses } from '../onnx/passes/index.js';
import { calibrationConfig, createCalibrator } from './calibrate/index.js';
import type { CalibrationConfig, TensorRange } from './calibrate/types.js';
import { observeCalibration } from './calibration-run.js';
import { calibrationTargets } from './targets.js';
import type { CalibrationSource } from './data/types.js';
import { opQuantizerFor } from './ops/op-table.js';
import { resolveQuantizeOptions, type QuantizeOptions, type ResolvedQuantizeOptions } from './options.js';
import { nodeLabel, planQuantization } from './plan.js';
import { emitQdq } from './qdq.js';

/** Ops that only appear in a model that is already quantized. */
const QUANTIZED_OPS = new Set([
  'QuantizeLinear',
  'DequantizeLinear',
  'DynamicQuantizeLinear',
  'QLinearConv',
  'QLinearMatMul',
  'MatMulInteger',
  'ConvInteger',
  'QGemm',
  'QLinearAdd',
  'QLinearMul',
  'MatMulIntegerToFloat',
  'DynamicQuantizeMatMul',
]);

/** A node the quantizer turned to integer, for the fusion check and the report. */
export interface QuantizedNode {
  readonly name: string;
  readonly opType: string;
  /** Integer kernels ONNX Runtime may turn it into; empty for data-movement ops. */
  readonly fusedOps: readonly string[];
}

/** What quantization did, for the CLI summary and for tools. */
export interface QuantizeReport {
  readonly options: ResolvedQuantizeOptions;
  readonly passes: readonly { readonly name: string; readonly changes: number; readonly notes?: readonly string[] }[];
  /** Undefined when ranges were replayed instead of calibrated. */
  readonly calibration: { readonly config: CalibrationConfig; readonly samples: number } | undefined;
  /** Every range that was available for planning (save it to replay without data). */
  readonly ranges: ReadonlyMap<string, TensorRange>;
  readonly quantizedNodes: readonly QuantizedNode[];
  /** Nodes with a quantizer that stayed float, and why. */
  readonly skippedNodes: readonly { readonly name: string; readonly opType: string; readonly reason: string }[];
  /** Relu/Clip nodes folded into their producer's output range. */
  readonly absorbed: number;
  readonly widenedChannels: number;
  readonly clippedBiases: number;
  /** SQNR (dB) of each quantized weight against its float values (spec: ≥ 35 dB per-channel). */
  readonly weightSqnr: ReadonlyMap<string, number>;
}

/** Options of {@link quantizeModel} beyond what to quantize: progress and logging. */
export interface QuantizeRunOptions extends QuantizeOptions {
  readonly onProgress?: (done: number, total: number | undefined) => void;
  readonly intraOpThreads?: number;
  readonly logger?: Logger;
}

/** Refuses a model that already holds quantized operators (quantizing twice compounds error). */
export function assertNotQuantized(model: ModelProto): void {
  const found = model.graph?.node.find((node) => QUANTIZED_OPS.has(node.opType));
  if (found) {
    throw new KilnError(
      'KILN_QUANTIZE_ALREADY_QUANTIZED',
      `the model is already quantized: node '${nodeLabel(found)}' is a ${found.opType}; quantize the float model instead`,
      { details: { node: found.name, opType: found.opType } },
    );
  }
}

/**
 * Static INT8 post-training quantization to QDQ form: prepare the graph (constants, opset 13,
 * BatchNorm folding…), calibrate activation ranges on `source` (or take `options.ranges`),
 * plan per op, and emit. The result is a standard ONNX model that ONNX Runtime runs with
 * integer kernels; see spec/quantization.md for every rule followed.
 */
export async function quantizeModel(
  model: ModelProto,
  source: CalibrationSource | undefined,
  options: QuantizeRunOptions = {},
): Promise<{ model: ModelProto; report: QuantizeReport }> {
  const resolved = resolveQuantizeOptions(options);
  const logger = options.logger ?? silentLogger();
  assertNotQuantized(model);
  const prepared = runPasses(model, PREPARE_PASSES);
  for (const pass of prepared.applied) if (pass.changes > 0) logger.debug({ pass: pass.name, changes: pass.changes }, 'pass applied');
  const view = new GraphView(prepared.model.graph!);
  checkExcludedNodes(view, resolved.excludeNodes);

  let ranges: ReadonlyMap<string, TensorRange>;
  let calibration: QuantizeReport['calibration'];
  if (options.ranges) {
    checkReplayedRanges(view, options.ranges);
    ranges = options.ranges;
  } else {
    if (!source) {
      throw new KilnError('KILN_QUANTIZE_CALIBRATION_INVALID', 'static quantization needs calibration data or a saved ranges file');
    }
    const config = options.calibration ?? calibrationConfig();
    const calibrator = createCalibrator(config);
    const samples = await observeCalibration(prepared.model, calibrationTargets(view), source, {
      calibrator,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.intraOpThreads !== undefined ? { intraOpThreads: options.intraOpThreads } : {}),
      logger,
    });
    ranges = calibrator.ranges({ qmin: resolved.activationRange.qmin, qmax: resolved.activationRange.qmax, symmetric: false });
    calibration = { config, samples };
  }

  const plan = planQuantization(view, ranges, resolved);
  const emitted = emitQdq(prepared.model, plan, resolved);
  const quantizedNodes = [...plan.nodes.keys()].map((node) => ({
    name: nodeLabel(node),
    opType: node.opType,
    fusedOps: opQuantizerFor(node.opType)?.fusedOps ?? [],
  }));
  const report: QuantizeReport = {
    options: resolved,
    passes: prepared.applied,
    calibration,
    ranges,
    quantizedNodes,
    skippedNodes: plan.skipped.map(({ node, reason }) => ({ name: nodeLabel(node), opType: node.opType, reason })),
    absorbed: plan.absorptions.length,
    widenedChannels: emitted.widenedChannels,
    clippedBiases: emitted.clippedBiases,
    weightSqnr: emitted.weightSqnr,
  };
  if (emitted.clippedBiases > 0) logger.warn({ clipped: emitted.clippedBiases }, 'bias values clipped to int32');
  return { model: emitted.model, report };
}

/** Replayed ranges must belong to this model: a file from another model would quantize nothing. */
function checkReplayedRanges(view: GraphView, ranges: ReadonlyMap<string, TensorRange>): void {
  const known = new Set(view.nodes.flatMap((node) => [...node.input, ...node.output]));
  const unknown = [...ranges.keys()].filter((name) => !known.has(name));
  if (ranges.size === 0 || unknown.length === ranges.size) {
    throw new KilnError('KILN_QUANTIZE_RANGES_INVALID', `the saved ranges name no tensor of this model${unknown[0] ? ` (first: '${unknown[0]}')` : ''}`);
  }
  if (unknown.length > 0) {
    throw new KilnError(
      'KILN_QUANTIZE_RANGES_INVALID',
      `the saved ranges name ${unknown.length} tensors this model does not have (first: '${unknown[0]}'); were they saved for another model?`,
    );
  }
}

/** An excluded node that does not exist is a typo the user should hear about, not a no-op. */
function checkExcludedNodes(view: GraphView, excluded: ReadonlySet<string>): void {
  const labels = new Set(view.nodes.map(nodeLabel));
  const unknown = [...excluded].filter((name) => !labels.has(name));
  if (unknown.length > 0) {
    throw new KilnError('KILN_CORE_INVALID_ARGUMENT', `no node named ${unknown.map((name) => `'${name}'`).join(', ')} to exclude (node names are as in kiln inspect or Netron)`, {
      details: { unknown },
    });
  }
}
