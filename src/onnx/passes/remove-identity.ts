/**
 * remove-identity: drops `Identity` nodes and inference-mode `Dropout` (an identity at
 * inference), rewiring their consumers to the original value. Such nodes would otherwise
 * split a quantizable chain in two and cost a Q/DQ pair each.
 *
 * When the removed node writes a graph output, the output keeps its name: the producer of the
 * node's input is renamed instead. That is impossible when the input is itself a graph input,
 * an initializer or another graph output, so the node stays in those cases.
 */
import type { ModelProto, NodeProto } from '../gen/onnx_pb.js';
import { decodeTensor } from '../tensor.js';
import { copyNode, intAttribute, isOnnxOp } from './attributes.js';
import { constantInitializers, pruneValueInfo, rebuildGraph, unusedInitializers, valueUses, withGraph } from './graph-tools.js';
import { unchanged, type PassResult } from './types.js';

/** Why a Dropout cannot go: it may be training, or its mask is read. */
function dropoutIsIdentity(node: NodeProto, isUsed: (name: string) => boolean, constantFalse: (name: string) => boolean): boolean {
  // Before opset 7, is_test=0 (the default) meant training.
  if (node.attribute.some((attribute) => attribute.name === 'is_test') && intAttribute(node, 'is_test', 0) === 0) return false;
  const mask = node.output[1];
  if (mask && isUsed(mask)) return false;
  const trainingMode = node.input[2];
  return !trainingMode || constantFalse(trainingMode);
}

/**
 * Removes Identity and inference Dropout nodes from the main graph; `changes` counts them.
 * @example removeIdentity(model).changes // 3
 */
export function removeIdentity(model: ModelProto): PassResult {
  const graph = model.graph;
  if (!graph) return unchanged(model);
  const uses = valueUses(graph);
  const graphOutputs = new Set(graph.output.map((output) => output.name));
  const fixedNames = new Set([...graph.input.map((input) => input.name), ...graph.initializer.map((tensor) => tensor.name), ...graphOutputs]);
  const constants = constantInitializers(model, graph);
  const isUsed = (name: string) => uses.has(name) || graphOutputs.has(name);
  const constantFalse = (name: string) => {
    const tensor = constants.get(name);
    if (!tensor) return false;
    const data = decodeTensor(tensor).data;
    return Array.from(data as ArrayLike<number | bigint>).every((value) => Number(value) === 0);
  };
  const producers = new Map<string, NodeProto>();
  for (const node of graph.node) for (const output of node.output) if (output) producers.set(output, node);

  const rename = new Map<string, string>();
  const resolve = (name: string): string => {
    let current = name;
    while (rename.has(current)) current = rename.get(current)!;
    return current;
  };
  const renamedOutputs = new Map<string, string>();
  const replace = new Map<NodeProto, readonly NodeProto[]>();
  let kept = 0;
  let removed = 0;
  for (const node of graph.node) {
    const removable =
      isOnnxOp(node, 'Identity') || (isOnnxOp(node, 'Dropout') && dropoutIsIdentity(node, isUsed, constantFalse));
    const x = node.input[0];
    const y = node.output[0];
    if (!removable || !x || !y) continue;
    const source = resolve(x);
    if (graphOutputs.has(y)) {
      if (fixedNames.has(source) || !producers.has(source)) {
        kept++;
        continue;
      }
      renamedOutputs.set(source, y);
    }
    rename.set(graphOutputs.has(y) ? source : y, graphOutputs.has(y) ? y : source);
    replace.set(node, []);
    removed++;
  }
  const notes = kept > 0 ? [`${kept} node(s) kept: they copy a graph input, initializer or output to a graph output`] : [];
  if (removed === 0) return unchanged(model, notes);
  for (const [old, name] of renamedOutputs) {
    const producer = producers.get(old)!;
    const current = replace.get(producer)?.[0] ?? producer;
    replace.set(producer, [copyNode(current, { output: current.output.map((output) => (output === old ? name : output)) })]);
  }
  const renameInputs = new Map([...rename.keys()].map((name) => [name, resolve(name)]));
  let next = rebuildGraph(graph, { replace, renameInputs });
  // A removed Dropout may leave its ratio / training_mode initializers unread.
  const released = [...replace.keys()].flatMap((node) => node.input.slice(1).filter(Boolean));
  const orphans = unusedInitializers(next, released);
  if (orphans.length > 0) next = rebuildGraph(next, { removeInitializers: orphans });
  next = pruneValueInfo(next);
  return { model: withGraph(model, next), changes: removed, notes };
}
