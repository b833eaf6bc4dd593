/**
 * fold-constants: evaluates, in JavaScript, the main-graph nodes whose inputs are all
 * constant (initializers that are not graph inputs, or values folded earlier in the same
 * walk) and replaces them with initializers. Only the ops in `constant-kernels.ts` are folded
 * (shape plumbing, Cast, elementwise arithmetic); everything else is left as it is. This is
 * what turns, say, a weight computed as `Mul(Constant, Constant)` into a weight the quantizer
 * can see, and removes float shape arithmetic from between quantized ops.
 */
import type { ModelProto, NodeProto, TensorProto } from '../gen/onnx_pb.js';
import { decodeTensor, encodeTensor, type DecodedTensor } from '../tensor.js';
import { isOnnxOp } from './attributes.js';
import { GROWING_OPS, KERNELS } from './constant-kernels.js';
import { constantInitializers, pruneValueInfo, rebuildGraph, subgraphsOf, unusedInitializers, valueUses, withGraph } from './graph-tools.js';
import { countOf } from './tensor-ops.js';
import { unchanged, type PassResult } from './types.js';

/**
 * Largest tensor (in elements) that a growing op (ConstantOfShape, Expand, Gather) may create:
 * beyond it the folded initializer would swell the file for little gain. @defaultValue 65536
 */
export const MAX_GROWN_ELEMENTS = 65_536;

/**
 * Folds constant subgraphs of the main graph; `changes` is the number of nodes evaluated.
 * @example foldConstants(model).notes // ['folded Cast×3, Shape×1']
 */
export function foldConstants(model: ModelProto): PassResult {
  const graph = model.graph;
  if (!graph) return unchanged(model);
  const tensors = constantInitializers(model, graph);
  const decoded = new Map<string, DecodedTensor>();
  const valueOf = (name: string): DecodedTensor | undefined => {
    const cached = decoded.get(name);
    if (cached) return cached;
    const tensor = tensors.get(name);
    if (!tensor) return undefined;
    const value = decodeTensor(tensor);
    decoded.set(name, value);
    return value;
  };
  const uses = valueUses(graph);
  const graphOutputs = new Set(graph.output.map((output) => output.name));
  const replace = new Map<NodeProto, readonly NodeProto[]>();
  const added: TensorProto[] = [];
  const released = new Set<string>();
  const counts = new Map<string, number>();
  for (const node of graph.node) {
    const kernel = isOnnxOp(node) ? KERNELS.get(node.opType) : undefined;
    if (!kernel || subgraphsOf(node).length > 0 || node.output.some((output) => graphOutputs.has(output))) continue;
    const names = node.input.filter(Boolean);
    if (!names.every((name) => tensors.has(name))) continue;
    // Shape needs only the dims: skip decoding (a large) initializer for it.
    const inputs =
      node.opType === 'Shape'
        ? [{ name: '', dataType: 0, dims: tensors.get(names[0] ?? '')?.dims.map(Number) ?? [], data: new Float32Array(0) }]
        : node.input.map((name) => (name ? valueOf(name) : undefined));
    const results = kernel(node, inputs);
    if (!results || results.length < node.output.filter(Boolean).length) continue;
    const largestInput = Math.max(0, ...inputs.map((input) => (input ? countOf(input.dims) : 0)));
    if (GROWING_OPS.has(node.opType) && results.some((result) => countOf(result.dims) > Math.max(MAX_GROWN_ELEMENTS, largestInput))) continue;
    node.output.forEach((output, index) => {
      const result = results[index];
      if (!output || !result || !(uses.has(output) || graphOutputs.has(output))) return;
      const tensor = encodeTensor({ name: output, dataType: result.dataType, dims: result.dims, data: result.data });
      tensors.set(output, tensor);
      decoded.set(output, { ...result, name: output });
      added.push(tensor);
    });
    for (const name of names) released.add(name);
    replace.set(node, []);
    counts.set(node.opType, (counts.get(node.opType) ?? 0) + 1);
  }
  if (replace.size === 0) return unchanged(model);
  let next = rebuildGraph(graph, { replace, addInitializers: added });
  const orphans = unusedInitializers(next, released);
  if (orphans.length > 0) next = rebuildGraph(next, { removeInitializers: orphans });
  const summary = [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([op, count]) => `${op}×${count}`);
  return { model: withGraph(model, pruneValueInfo(next)), changes: replace.size, notes: [`folded ${summary.join(', ')}`] };
}
