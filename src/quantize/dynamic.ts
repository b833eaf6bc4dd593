/**
 * Dynamic INT8 quantization: no calibration data. Each MatMul (and plain Gemm) whose second
 * input is a constant float matrix gets int8 weights, symmetric per output column (or per
 * tensor), and its activation is quantized at run time to uint8 by DynamicQuantizeLinear. The
 * emitted pattern, DynamicQuantizeLinear → MatMulInteger → Cast → Mul by (activation scale ×
 * weight scales) [→ Add bias], is the one ONNX Runtime's CPU optimizer fuses into
 * DynamicQuantizeMatMul. Everything else stays float. It pays off where MatMul weights dominate
 * (transformer and recurrent layers, classifier heads); convolutions need static quantization.
 */
import { KilnError } from '../core/errors.js';
import { DataType } from '../onnx/dtype.js';
import { makeNode } from '../onnx/build.js';
import { editModel } from '../onnx/edit.js';
import type { ModelProto, NodeProto, TensorProto } from '../onnx/gen/onnx_pb.js';
import { GraphView } from '../onnx/graph.js';
import { PREPARE_PASSES, runPasses } from '../onnx/passes/index.js';
import { encodeTensor } from '../onnx/tensor.js';
import { quantRange } from './math.js';
import { nodeLabel } from './plan.js';
import { assertNotQuantized, type QuantizedNode } from './quantize-model.js';
import { quantizeWeight, weightSqnrDb } from './weights.js';

/** Options of {@link quantizeDynamic}. */
export interface DynamicQuantizeOptions {
  /** One scale per output column (true) or one per weight. @defaultValue true */
  readonly perChannel?: boolean;
  /** Node names to leave float. */
  readonly excludeNodes?: readonly string[];
}

/** What dynamic quantization did. */
export interface DynamicQuantizeReport {
  readonly passes: readonly { readonly name: string; readonly changes: number }[];
  readonly quantizedNodes: readonly QuantizedNode[];
  /** MatMul/Gemm nodes that stayed float, and why. */
  readonly skippedNodes: readonly { readonly name: string; readonly opType: string; readonly reason: string }[];
  /** SQNR (dB) of each quantized weight against its float values. */
  readonly weightSqnr: ReadonlyMap<string, number>;
}

/** The integer kernels ONNX Runtime fuses the emitted pattern into. */
export const DYNAMIC_FUSED_OPS: readonly string[] = ['DynamicQuantizeMatMul', 'MatMulIntegerToFloat'];

interface Candidate {
  readonly node: NodeProto;
  /** The float weight as [K, N] (a Gemm's transB weight transposed). */
  readonly weight: { readonly name: string; readonly values: Float32Array; readonly k: number; readonly n: number };
  readonly bias: string | undefined;
}

function attribute(node: NodeProto, name: string): number | undefined {
  const found = node.attribute.find((attr) => attr.name === name);
  return found ? (found.f !== 0 ? found.f : Number(found.i)) : undefined;
}

/** Why a MatMul/Gemm cannot take the dynamic pattern, or its weight when it can. */
function candidateOf(view: GraphView, node: NodeProto): Candidate | string {
  const [input, weightName, bias] = node.input;
  if (!input || !weightName) return 'has no second input';
  const tensor = view.initializer(weightName);
  if (!tensor) return 'its weight is not a constant (activation × activation)';
  if (tensor.dataType !== DataType.FLOAT) return 'its weight is not float32';
  if (view.initializer(input)) return 'its first input is a constant';
  const dims = tensor.dims.map(Number);
  if (dims.length !== 2) return `its weight has rank ${dims.length}, not 2`;
  const values = view.initializerValues(weightName)!.data as Float32Array;
  if (node.opType === 'MatMul') return { node, weight: { name: weightName, values, k: dims[0]!, n: dims[1]! }, bias: undefined };
  // Gemm: only Y = A·B (+ C) with A untransposed and unit alpha/beta maps onto MatMulInteger.
  if ((attribute(node, 'transA') ?? 0) !== 0) return 'Gemm with transA';
  if ((attribute(node, 'alpha') ?? 1) !== 1 || (attribute(node, 'beta') ?? 1) !== 1) return 'Gemm with alpha or beta other than 1';
  if (bias !== undefined && bias !== '' && !view.initializer(bias)) return 'Gemm whose bias is not a constant';
  const transposed = (attribute(node, 'transB') ?? 0) !== 0;
  const [k, n] = transposed ? [dims[1]!, dims[0]!] : [dims[0]!, dims[1]!];
  const kn = transposed ? Float32Array.from({ length: k * n }, (_, i) => values[(i % n) * k + Math.floor(i / n)]!) : values;
  return { node, weight: { name: weightName, values: kn, k, n }, bias: bias || undefined };
}

/**
 * Dynamic INT8 quantization of a float model (see the module comment). The graph is prepared
 * as for static quantization first (constants as initializers, opset 13…).
 * @throws KilnError `KILN_QUANTIZE_ALREADY_QUANTIZED` for a model that holds quantized ops.
 */
export function quantizeDynamic(model: ModelProto, options: DynamicQuantizeOptions = {}): { model: ModelProto; report: DynamicQuantizeReport } {
  assertNotQuantized(model);
  const prepared = runPasses(model, PREPARE_PASSES);
  const view = new GraphView(prepared.model.graph!);
  const excluded = new Set(options.excludeNodes ?? []);
  const unknown = [...excluded].filter((name) => !view.nodes.some((node) => nodeLabel(node) === name));
  if (unknown.length > 0) throw new KilnError('KILN_CORE_INVALID_ARGUMENT', `no node named ${unknown.map((name) => `'${name}'`).join(', ')} to exclude`);
  const range = quantRange('int8', { symmetric: true });
  const addNodes: NodeProto[] = [];
  const addInitializers: TensorProto[] = [];
  const removeNodes: NodeProto[] = [];
  const quantizedWeights = new Set<string>();
  const quantizedNodes: QuantizedNode[] = [];
  const skippedNodes: { name: string; opType: string; reason: string }[] = [];
  const weightSqnr = new Map<string, number>();
  /** One DynamicQuantizeLinear per activation, shared by every MatMul that reads it. */
  const dynamicInputs = new Map<string, { q: string; scale: string; zeroPoint: string }>();

  for (const node of view.nodes) {
    if (node.opType !== 'MatMul' && node.opType !== 'Gemm') continue;
    const label = nodeLabel(node);
    if (excluded.has(label)) {
      skippedNodes.push({ name: label, opType: node.opType, reason: 'excluded' });
      continue;
    }
    const candidate = candidateOf(view, node);
    if (typeof candidate === 'string') {
      skippedNodes.push({ name: label, opType: node.opType, reason: candidate });
      continue;
    }
    const { weight } = candidate;
    const quantized = quantizeWeight(weight.values, [weight.k, weight.n], options.perChannel === false ? undefined : 1, range);
    weightSqnr.set(weight.name, weightSqnrDb(weight.values, [weight.k, weight.n], quantized));
    const base = `${label}_dq`;
    const input = node.input[0]!;
    let dynamic = dynamicInputs.get(input);
    if (!dynamic) {
      dynamic = { q: `${input}_u8`, scale: `${input}_scale`, zeroPoint: `${input}_zp` };
      addNodes.push(makeNode('DynamicQuantizeLinear', [input], [dynamic.q, dynamic.scale, dynamic.zeroPoint], { name: `${input}_DynamicQuantizeLinear` }));
      dynamicInputs.set(input, dynamic);
    }
    const channels = quantized.scales.length;
    addInitializers.push(
      encodeTensor({ name: `${base}_W`, dataType: DataType.INT8, dims: [weight.k, weight.n], data: quantized.data }),
      encodeTensor({ name: `${base}_W_scale`, dataType: DataType.FLOAT, dims: channels > 1 ? [channels] : [], data: quantized.scales }),
      encodeTensor({ name: `${base}_W_zp`, dataType: DataType.INT8, dims: channels > 1 ? [channels] : [], data: quantized.zeroPoints }),
    );
    const output = node.output[0]!;
    const scaled = candidate.bias ? `${base}_scaled` : output;
    addNodes.push(
      // MatMulInteger keeps the original name: it is the node ONNX Runtime fuses and reports.
      makeNode('MatMulInteger', [dynamic.q, `${base}_W`, dynamic.zeroPoint, `${base}_W_zp`], [`${base}_i32`], { name: label }),
      makeNode('Cast', [`${base}_i32`], [`${base}_f32`], { name: `${base}_Cast`, attributes: { to: DataType.FLOAT } }),
      makeNode('Mul', [dynamic.scale, `${base}_W_scale`], [`${base}_scale`], { name: `${base}_ScaleMul` }),
      makeNode('Mul', [`${base}_f32`, `${base}_scale`], [scaled], { name: `${base}_Mul` }),
    );
    if (candidate.bias) addNodes.push(makeNode('Add', [scaled, candidate.bias], [output], { name: `${base}_BiasAdd` }));
    removeNodes.push(node);
    quantizedWeights.add(weight.name);
    quantizedNodes.push({ name: label, opType: node.opType, fusedOps: DYNAMIC_FUSED_OPS });
  }

  // A float weight still read by a node left float stays.
  const stillRead = new Set(view.nodes.filter((node) => !removeNodes.includes(node)).flatMap((node) => node.input));
  const removeInitializers = [...quantizedWeights].filter((name) => !stillRead.has(name));
  const edited = quantizedNodes.length === 0 ? prepared.model : editModel(prepared.model, { removeNodes, addNodes, addInitializers, removeInitializers });
  return {
    model: edited,
    report: { passes: prepared.applied, quantizedNodes, skippedNodes, weightSqnr },
  };
}
