/**
 * FP16 conversion (spec §7): float32 weights and activations become float16, halving the file;
 * graph inputs and outputs stay float32 (a Cast inside the graph at each end), and the ops the
 * spec's block list names (plus any op outside the ONNX domain, and any with subgraphs) keep
 * float32, with Casts around them. Weights are clamped into float16's range first (±65 504, and no
 * non-zero magnitude below its smallest subnormal, 5.96e−8, flushed to zero).
 *
 * Element types come from the graph's declarations and kiln's shape inference; a tensor of
 * unknown type stops the conversion, so no tensor is converted on a guess.
 * The CPU provider lacks float16 kernels for many ops and inserts casts of its own there, so an
 * FP16 model is usually slower than FP32 on CPU: the gain is size, and speed on GPUs.
 */
import { KilnError } from '../core/errors.js';
import { makeNode } from '../onnx/build.js';
import { DataType } from '../onnx/dtype.js';
import { create } from '@bufbuild/protobuf';
import { AttributeProtoSchema, GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from '../onnx/gen/onnx_pb.js';
import { inferShapes, PREPARE_PASSES, runPasses } from '../onnx/passes/index.js';
import { decodeTensor, encodeTensor, float32ToFloat16 } from '../onnx/tensor.js';
import { nodeLabel } from './plan.js';
import { assertNotQuantized } from './quantize-model.js';

/** Ops kept in float32 by default (onnxconverter-common's list, spec §7). */
export const FP16_BLOCKED_OPS: readonly string[] = ['RandomUniformLike', 'NonMaxSuppression', 'TopK', 'RoiAlign', 'Range', 'CumSum', 'Min', 'Max', 'Upsample'];

/** Inputs that must stay float32 even on a float16 node, by op: input index. */
const FLOAT_ONLY_INPUTS: Readonly<Record<string, readonly number[]>> = { Resize: [2] };

const HALF_MAX = 65504;
const HALF_MIN_POSITIVE = 5.96e-8;

/** Options of {@link convertToFloat16}. */
export interface Float16Options {
  /** Op types to keep in float32, added to {@link FP16_BLOCKED_OPS}. */
  readonly blockOps?: readonly string[];
  /** Node names to keep in float32. */
  readonly blockNodes?: readonly string[];
}

/** What the conversion did. */
export interface Float16Report {
  readonly convertedInitializers: number;
  /** Weight values moved into float16's range (beyond ±65 504, or non-zero below 5.96e−8). */
  readonly clampedValues: number;
  /** Nodes kept in float32, and why. */
  readonly blockedNodes: readonly { readonly name: string; readonly opType: string; readonly reason: string }[];
  readonly castsInserted: number;
  readonly floatNodes: number;
}

/**
 * Every tensor's element type: declared, or inferred by kiln's shape inference. A node output of
 * unknown type is refused rather than guessed, since converting it wrongly breaks the graph.
 */
function elementTypes(graph: GraphProto): Map<string, number> {
  const info = inferShapes(graph);
  const types = new Map<string, number>();
  const unknown: NodeProto[] = [];
  for (const tensor of graph.initializer) types.set(tensor.name, tensor.dataType);
  for (const input of graph.input) {
    const type = info.elemType(input.name);
    if (type !== undefined) types.set(input.name, type);
  }
  for (const node of graph.node) {
    for (const output of node.output) {
      if (output === '') continue;
      const type = info.elemType(output);
      if (type === undefined) unknown.push(node);
      else types.set(output, type);
    }
  }
  if (unknown.length > 0) {
    const ops = [...new Set(unknown.map((node) => node.opType))].join(', ');
    throw new KilnError('KILN_CORE_INVALID_ARGUMENT', `FP16 conversion cannot tell the element type of what ${unknown.length} nodes produce (ops: ${ops}; first: '${nodeLabel(unknown[0]!)}'), so it converts nothing rather than guess`);
  }
  return types;
}

function blockReason(node: NodeProto, blockedOps: ReadonlySet<string>, blockedNodes: ReadonlySet<string>): string | undefined {
  if (blockedNodes.has(nodeLabel(node))) return 'blocked by name';
  if (node.domain !== '' && node.domain !== 'ai.onnx') return `op of domain ${node.domain}`;
  if (blockedOps.has(node.opType)) return 'op kept in float32 (block list)';
  if (node.attribute.some((attr) => attr.g !== undefined || attr.graphs.length > 0)) return 'op with a subgraph';
  return undefined;
}

/**
 * Converts a float32 model to float16 (see the module comment).
 * @throws KilnError `KILN_QUANTIZE_ALREADY_QUANTIZED` for a quantized model, or
 *   `KILN_CORE_INVALID_ARGUMENT` for a model with nothing in float32 to convert.
 */
export async function convertToFloat16(model: ModelProto, options: Float16Options = {}): Promise<{ model: ModelProto; report: Float16Report }> {
  assertNotQuantized(model);
  // The same preparation as quantization: BatchNorm folded first, since its running variance
  // routinely passes float16's 65 504 (PP-OCR's detector holds one of 9.8e7) while the folded
  // weights do not.
  const prepared = runPasses(model, PREPARE_PASSES).model;
  const graph = prepared.graph!;
  const types = elementTypes(graph);
  const isFloat = (name: string) => name !== '' && types.get(name) === DataType.FLOAT;
  const blockedOps = new Set([...FP16_BLOCKED_OPS, ...(options.blockOps ?? [])]);
  const blockedNodes = new Set(options.blockNodes ?? []);
  const unknown = [...blockedNodes].filter((name) => !graph.node.some((node) => nodeLabel(node) === name));
  if (unknown.length > 0) throw new KilnError('KILN_CORE_INVALID_ARGUMENT', `no node named ${unknown.map((name) => `'${name}'`).join(', ')} to keep in float32`);

  const blocked = new Map<NodeProto, string>();
  for (const node of graph.node) {
    const reason = blockReason(node, blockedOps, blockedNodes);
    if (reason) blocked.set(node, reason);
  }
  const initializers = new Map(graph.initializer.map((tensor) => [tensor.name, tensor]));
  const graphInputs = new Set(graph.input.map((input) => input.name));
  const graphOutputs = new Set(graph.output.map((output) => output.name));
  /** Float tensors whose home is float16: produced by a converted node. */
  const halfProduced = new Set<string>();
  for (const node of graph.node) if (!blocked.has(node)) for (const output of node.output) if (isFloat(output)) halfProduced.add(output);

  const extraNodes: NodeProto[] = [];
  const newInitializers: TensorProto[] = [];
  const casts = new Map<string, string>();
  let clamped = 0;
  /** A float16 (or float32) version of a float tensor, made once: a converted weight or a Cast. */
  const version = (name: string, half: boolean): string => {
    const home = halfProduced.has(name) ? (graphOutputs.has(name) ? `${name}__fp16` : name) : name;
    if (halfProduced.has(name) === half) return home;
    const key = `${name}|${half}`;
    const known = casts.get(key);
    if (known) return known;
    const target = `${name}__${half ? 'fp16' : 'fp32'}`;
    const weight = initializers.get(name);
    if (weight && half) {
      const values = decodeTensor(weight).data as Float32Array;
      const bits = new Uint16Array(values.length);
      values.forEach((value, index) => {
        const magnitude = Math.abs(value);
        let kept = value;
        if (magnitude > HALF_MAX) kept = Math.sign(value) * HALF_MAX;
        else if (magnitude > 0 && magnitude < HALF_MIN_POSITIVE) kept = Math.sign(value) * HALF_MIN_POSITIVE;
        if (kept !== value) clamped++;
        bits[index] = float32ToFloat16(kept);
      });
      newInitializers.push(encodeTensor({ name: target, dataType: DataType.FLOAT16, dims: weight.dims.map(Number), data: bits }));
    } else {
      extraNodes.push(makeNode('Cast', [home], [target], { name: `${target}_Cast`, attributes: { to: half ? DataType.FLOAT16 : DataType.FLOAT } }));
    }
    casts.set(key, target);
    return target;
  };

  const nodes: NodeProto[] = graph.node.map((node) => {
    const half = !blocked.has(node);
    const floatOnly = FLOAT_ONLY_INPUTS[node.opType] ?? [];
    const inputs = node.input.map((input, index) => (isFloat(input) ? version(input, half && !floatOnly.includes(index)) : input));
    const outputs = node.output.map((output) => (half && isFloat(output) && graphOutputs.has(output) ? `${output}__fp16` : output));
    const attribute = half
      ? node.attribute.map((attr) => {
          if ((attr.name === 'to' && node.opType === 'Cast') || attr.name === 'dtype') {
            return Number(attr.i) === DataType.FLOAT ? create(AttributeProtoSchema, { ...attr, i: BigInt(DataType.FLOAT16) }) : attr;
          }
          if (attr.name === 'value' && node.opType === 'ConstantOfShape' && attr.t?.dataType === DataType.FLOAT) {
            const value = decodeTensor(attr.t).data as Float32Array;
            return create(AttributeProtoSchema, { ...attr, t: encodeTensor({ name: attr.t.name, dataType: DataType.FLOAT16, dims: attr.t.dims.map(Number), data: Uint16Array.from(value, float32ToFloat16) }) });
          }
          return attr;
        })
      : node.attribute;
    return create(NodeProtoSchema, { ...node, input: inputs, output: outputs, attribute });
  });
  // Graph outputs produced in float16 get a Cast back to float32 under their own name.
  for (const output of graphOutputs) {
    if (halfProduced.has(output)) extraNodes.push(makeNode('Cast', [`${output}__fp16`], [output], { name: `${output}__fp32_Cast`, attributes: { to: DataType.FLOAT } }));
  }
  const converted = [...initializers.keys()].filter((name) => casts.has(`${name}|true`));
  if (converted.length === 0 && halfProduced.size === 0) throw new KilnError('KILN_CORE_INVALID_ARGUMENT', 'the model has no float32 tensor to convert to float16');
  // A weight read only in float16 form is dropped; one also read as float32 stays.
  const stillRead = new Set(nodes.flatMap((node) => node.input));
  const keptInitializers = graph.initializer.filter((tensor) => stillRead.has(tensor.name) || graphInputs.has(tensor.name));
  const order = topologicalOrder([...nodes, ...extraNodes], new Set([...graph.input.map((input) => input.name), ...keptInitializers.map((t) => t.name), ...newInitializers.map((t) => t.name)]));
  const newGraph = create(GraphProtoSchema, {
    ...graph,
    node: order,
    initializer: [...keptInitializers, ...newInitializers],
    // onnxruntime infers intermediate types again; the float32 ones declared here no longer hold.
    valueInfo: [],
  });
  return {
    model: create(ModelProtoSchema, { ...prepared, graph: newGraph }),
    report: {
      convertedInitializers: converted.length,
      clampedValues: clamped,
      blockedNodes: [...blocked].map(([node, reason]) => ({ name: nodeLabel(node), opType: node.opType, reason })),
      castsInserted: extraNodes.length,
      floatNodes: blocked.size,
    },
  };
}

/** Nodes in an order where every input is produced before it is read (Kahn's algorithm). */
function topologicalOrder(nodes: readonly NodeProto[], available: ReadonlySet<string>): NodeProto[] {
  const waitingOn = new Map<NodeProto, number>();
  const readers = new Map<string, NodeProto[]>();
  const ready: NodeProto[] = [];
  for (const node of nodes) {
    const missing = new Set(node.input.filter((input) => input !== '' && !available.has(input)));
    waitingOn.set(node, missing.size);
    for (const input of missing) readers.set(input, [...(readers.get(input) ?? []), node]);
    if (missing.size === 0) ready.push(node);
  }
  const ordered: NodeProto[] = [];
  for (let next = ready.shift(); next; next = ready.shift()) {
    ordered.push(next);
    for (const output of next.output) {
      for (const reader of readers.get(output) ?? []) {
        const left = waitingOn.get(reader)! - 1;
        waitingOn.set(reader, left);
        if (left === 0) ready.push(reader);
      }
    }
  }
  if (ordered.length < nodes.length) {
    const stuck = nodes.find((node) => !ordered.includes(node))!;
    throw new KilnError('KILN_CORE_INTERNAL', `fp16 conversion left node '${nodeLabel(stuck)}' with an input nothing produces`);
  }
  return ordered;
}
