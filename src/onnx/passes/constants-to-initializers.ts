/**
 * constants-to-initializers: turns the main graph's `Constant` nodes into initializers of the
 * same name. Exporters such as paddle2onnx keep every weight in a Constant node, while the
 * quantizer (like onnxruntime's) only treats initializers as weights. Constants inside
 * subgraphs stay where they are, and so does a Constant that is itself a graph output or
 * carries a sparse value.
 */
import { makeValueInfo } from '../build.js';
import { shallowCopy } from '../edit.js';
import { GraphProtoSchema, type ModelProto, type NodeProto, type TensorProto } from '../gen/onnx_pb.js';
import { isOnnxOp } from './attributes.js';
import { constantNodeTensor } from './constant-value.js';
import { rebuildGraph, withGraph } from './graph-tools.js';
import { unchanged, type PassResult } from './types.js';

/**
 * Moves Constant values into initializers; `changes` is the number of nodes converted.
 * @example constantsToInitializers(paddleModel).model.graph!.initializer.length // > 0
 */
export function constantsToInitializers(model: ModelProto): PassResult {
  const graph = model.graph;
  if (!graph) return unchanged(model);
  const outputs = new Set(graph.output.map((output) => output.name));
  const taken = new Set(graph.initializer.map((tensor) => tensor.name));
  const replace = new Map<NodeProto, readonly NodeProto[]>();
  const tensors: TensorProto[] = [];
  let skipped = 0;
  for (const node of graph.node) {
    if (!isOnnxOp(node, 'Constant')) continue;
    const name = node.output[0] ?? '';
    const tensor = name && !outputs.has(name) && !taken.has(name) ? constantNodeTensor(node, name) : undefined;
    if (!tensor) {
      skipped++;
      continue;
    }
    taken.add(name);
    tensors.push(tensor);
    replace.set(node, []);
  }
  const notes = skipped > 0 ? [`${skipped} Constant node(s) kept (graph output, sparse value or name clash)`] : [];
  if (tensors.length === 0) return unchanged(model, notes);
  let next = rebuildGraph(graph, { replace, addInitializers: tensors });
  if (model.irVersion < 4n) {
    // Before IR 4 every initializer must also be declared as a graph input.
    next = shallowCopy(GraphProtoSchema, next);
    next.input = [...next.input, ...tensors.map((tensor) => makeValueInfo(tensor.name, tensor.dataType, tensor.dims.map(Number)))];
  }
  return { model: withGraph(model, next), changes: tensors.length, notes };
}
