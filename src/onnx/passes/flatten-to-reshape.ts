/**
 * flatten-to-reshape: rewrites `Flatten(axis)` as `Reshape` with a constant 2-D shape.
 * onnxruntime's CPU QDQ rules drop Q/DQ around Reshape (and propagate them across it) but
 * know nothing of Flatten, which would stay a float island. The shape uses Reshape's 0 ("copy
 * this dim") and -1 ("infer") so it holds for any batch size: `[1, -1]` for axis 0, `[0, -1]`
 * for axis 1, and for a larger axis whichever side of it has only static dims.
 */
import { makeNode } from '../build.js';
import { DataType } from '../dtype.js';
import type { ModelProto, NodeProto, TensorProto } from '../gen/onnx_pb.js';
import { opsetVersion } from '../graph.js';
import { encodeTensor } from '../tensor.js';
import { intAttribute, isOnnxOp, nodeLabel } from './attributes.js';
import { NameAllocator, rebuildGraph, withGraph } from './graph-tools.js';
import { inferShapes, type StaticDim } from './infer-shapes.js';
import { unchanged, type PassResult } from './types.js';

function staticProduct(dims: readonly StaticDim[]): number | undefined {
  return dims.every((dim) => dim !== undefined) ? dims.reduce((product: number, dim) => product * dim!, 1) : undefined;
}

/** The Reshape target equal to Flatten(axis) on a tensor of these dims, or undefined. */
export function flattenShape(dims: readonly StaticDim[], axis: number): number[] | undefined {
  const rank = dims.length;
  const at = axis < 0 ? axis + rank : axis;
  if (at < 0 || at > rank) return undefined;
  if (at === 0) return [1, -1];
  if (at === 1) return [0, -1];
  const leading = staticProduct(dims.slice(0, at));
  if (leading !== undefined) return [leading, -1];
  const trailing = staticProduct(dims.slice(at));
  // -1 cannot be inferred for an empty trailing block; a zero leading dim is just as ambiguous.
  return trailing !== undefined && trailing > 0 ? [-1, trailing] : undefined;
}

/**
 * Replaces each Flatten of the main graph whose input rank is known; `changes` counts them.
 * Models below opset 5 (Reshape's shape was an attribute) are left alone.
 * @example flattenToReshape(model).model.graph!.node.some((n) => n.opType === 'Flatten') // false
 */
export function flattenToReshape(model: ModelProto): PassResult {
  const graph = model.graph;
  if (!graph || (opsetVersion(model) ?? 0) < 5) return unchanged(model);
  const flattens = graph.node.filter((node) => isOnnxOp(node, 'Flatten'));
  if (flattens.length === 0) return unchanged(model);
  const shapes = inferShapes(graph);
  const names = new NameAllocator(graph);
  const replace = new Map<NodeProto, readonly NodeProto[]>();
  const added: TensorProto[] = [];
  const kept: string[] = [];
  for (const node of flattens) {
    const input = node.input[0] ?? '';
    const dims = shapes.dims(input);
    const shape = dims ? flattenShape(dims, intAttribute(node, 'axis', 1)) : undefined;
    if (!shape) {
      kept.push(nodeLabel(node));
      continue;
    }
    const base = node.name || node.output[0] || 'flatten';
    const shapeName = names.fresh(`${base}_shape`);
    added.push(encodeTensor({ name: shapeName, dataType: DataType.INT64, dims: [2], data: BigInt64Array.from(shape, BigInt) }));
    const reshape = makeNode('Reshape', [input, shapeName], [...node.output], node.name ? { name: node.name } : {});
    replace.set(node, [reshape]);
  }
  const notes = kept.length > 0 ? [`kept Flatten ${kept.join(', ')}: input rank or dims unknown`] : [];
  if (replace.size === 0) return unchanged(model, notes);
  return { model: withGraph(model, rebuildGraph(graph, { replace, addInitializers: added })), changes: replace.size, notes };
}
