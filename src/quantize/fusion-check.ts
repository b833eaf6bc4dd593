import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeProto } from '../onnx/gen/onnx_pb.js';
import { GraphView } from '../onnx/graph.js';
import { readModel } from '../onnx/model-io.js';
import { Engine } from '../runtime/engine.js';
import type { QuantScheme } from './options.js';

/** A quantized node to look for in the optimized graph. */
export interface FusionTarget {
  readonly name: string;
  readonly opType: string;
  /** Integer kernels it may become; empty for data-movement ops, which must read 8-bit data. */
  readonly fusedOps: readonly string[];
}

/** How a quantized node came out of onnxruntime's optimizer. */
export interface FusionOutcome {
  readonly name: string;
  readonly opType: string;
  readonly fused: boolean;
  /** The op it became, or undefined when the node is gone (optimized away or merged into another). */
  readonly became: string | undefined;
}

/** The fusion check's findings. */
export interface FusionReport {
  readonly outcomes: readonly FusionOutcome[];
  readonly fused: number;
  /** Of the Conv/MatMul/Gemm nodes asked for: how many became integer kernels. */
  readonly compute: { readonly asked: number; readonly fused: number };
  /** Op histogram of the integer kernels in the optimized graph. */
  readonly integerKernels: Readonly<Record<string, number>>;
  /** Float Conv/MatMul/Gemm still reading a DequantizeLinear output (each one a missed fusion). */
  readonly floatComputeAfterDq: number;
}

const COMPUTE_OPS = new Set(['Conv', 'MatMul', 'Gemm']);
const INTEGER_KERNEL = /^(QLinear|QGemm|MatMulInteger|ConvInteger|DynamicQuantize|NhwcQLinear)/;

/** Session entries a scheme needs for its kernels to be chosen (int8 activations on x86). */
export function sessionConfigFor(scheme: QuantScheme): Record<string, string> {
  return scheme === 'S8S8' ? { 'session.qdqisint8allowed': '1' } : {};
}

/**
 * Opens the quantized model in onnxruntime at the 'extended' level with the optimized graph
 * written out, and checks every quantized node: compute ops must have become an integer kernel
 * (onnxruntime keeps the node's name on it), data-movement ops must read 8-bit data (no
 * DequantizeLinear left in front of them).
 */
export async function checkFusion(
  modelPath: string,
  targets: readonly FusionTarget[],
  scheme: QuantScheme = 'U8S8',
): Promise<FusionReport> {
  const folder = mkdtempSync(join(tmpdir(), 'kiln-fusion-'));
  try {
    const optimizedPath = join(folder, 'optimized.onnx');
    const engine = await Engine.load(modelPath, {
      graphOptimizationLevel: 'extended',
      optimizedModelPath: optimizedPath,
      sessionConfig: sessionConfigFor(scheme),
      label: modelPath,
    });
    await engine.release();
    const view = new GraphView(readModel(optimizedPath).model.graph!);
    return analyze(view, targets);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

function analyze(view: GraphView, targets: readonly FusionTarget[]): FusionReport {
  const byName = new Map<string, NodeProto>();
  for (const node of view.nodes) if (node.name) byName.set(node.name, node);
  const outcomes = targets.map((target): FusionOutcome => {
    const node = byName.get(target.name);
    // A data-movement op that onnxruntime optimized away (a Transpose pair cancelled, a Reshape
    // folded) breaks no integer island; a compute op that vanished is a failure.
    if (!node) return { name: target.name, opType: target.opType, fused: target.fusedOps.length === 0, became: undefined };
    const fused =
      target.fusedOps.length > 0
        ? target.fusedOps.includes(node.opType)
        : node.opType === target.opType && view.producer(node.input[0]!)?.opType !== 'DequantizeLinear';
    return { name: target.name, opType: target.opType, fused, became: node.opType };
  });
  const integerKernels: Record<string, number> = {};
  let floatComputeAfterDq = 0;
  for (const node of view.nodes) {
    if (INTEGER_KERNEL.test(node.opType)) integerKernels[node.opType] = (integerKernels[node.opType] ?? 0) + 1;
    if (COMPUTE_OPS.has(node.opType) && node.input.some((input) => view.producer(input)?.opType === 'DequantizeLinear')) floatComputeAfterDq++;
  }
  const compute = outcomes.filter((outcome) => COMPUTE_OPS.has(outcome.opType));
  return {
    outcomes,
    fused: outcomes.filter((outcome) => outcome.fused).length,
    compute: { asked: compute.length, fused: compute.filter((outcome) => outcome.fused).length },
    integerKernels,
    floatComputeAfterDq,
  };
}
