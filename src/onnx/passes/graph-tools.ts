/**
 * Small graph utilities shared by the passes: fresh names, value uses that include subgraph
 * (If/Loop/Scan body) references, deep input renaming, and rebuilding a graph with nodes
 * replaced in place so that the original order (already topological) is kept.
 */
import { shallowCopy, editGraph } from '../edit.js';
import {
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from '../gen/onnx_pb.js';
import { copyNode } from './attributes.js';

/** Every subgraph held by a node's attributes. */
export function subgraphsOf(node: NodeProto): GraphProto[] {
  const graphs: GraphProto[] = [];
  for (const attribute of node.attribute) {
    if (attribute.g) graphs.push(attribute.g);
    graphs.push(...attribute.graphs);
  }
  return graphs;
}

/** Names a node reads from the enclosing scope through its subgraphs (inputs not defined inside). */
export function outerReferences(node: NodeProto): Set<string> {
  const found = new Set<string>();
  for (const graph of subgraphsOf(node)) {
    const defined = new Set<string>([...graph.input.map((v) => v.name), ...graph.initializer.map((t) => t.name)]);
    for (const inner of graph.node) for (const output of inner.output) defined.add(output);
    for (const inner of graph.node) {
      for (const input of inner.input) if (input && !defined.has(input)) found.add(input);
      for (const name of outerReferences(inner)) if (!defined.has(name)) found.add(name);
    }
    for (const output of graph.output) if (!defined.has(output.name)) found.add(output.name);
  }
  return found;
}

/** Nodes reading each value, directly or from inside their subgraphs. */
export function valueUses(graph: GraphProto): Map<string, NodeProto[]> {
  const uses = new Map<string, NodeProto[]>();
  const add = (name: string, node: NodeProto) => {
    const list = uses.get(name);
    if (!list) uses.set(name, [node]);
    else if (!list.includes(node)) list.push(node);
  };
  for (const node of graph.node) {
    for (const input of node.input) if (input) add(input, node);
    for (const name of outerReferences(node)) add(name, node);
  }
  return uses;
}

/** Hands out names not yet used anywhere in a model (values and nodes, subgraphs included). */
export class NameAllocator {
  readonly #taken = new Set<string>();

  constructor(graph: GraphProto) {
    this.#collect(graph);
  }

  #collect(graph: GraphProto): void {
    for (const info of [...graph.input, ...graph.output, ...graph.valueInfo]) this.#taken.add(info.name);
    for (const tensor of graph.initializer) this.#taken.add(tensor.name);
    for (const node of graph.node) {
      if (node.name) this.#taken.add(node.name);
      for (const name of [...node.input, ...node.output]) if (name) this.#taken.add(name);
      for (const subgraph of subgraphsOf(node)) this.#collect(subgraph);
    }
  }

  /** `base` if free, else `base_1`, `base_2`…; the name is reserved. */
  fresh(base: string): string {
    let name = base;
    for (let index = 1; this.#taken.has(name); index++) name = `${base}_${index}`;
    this.#taken.add(name);
    return name;
  }
}

function renameInGraph(graph: GraphProto, rename: (name: string) => string): GraphProto {
  let changed = false;
  const nodes = graph.node.map((node) => {
    const next = renameInputs(node, rename);
    if (next !== node) changed = true;
    return next;
  });
  if (!changed) return graph;
  const copy = shallowCopy(GraphProtoSchema, graph);
  copy.node = nodes;
  return copy;
}

/**
 * The node with its inputs (and outer-scope references inside its subgraphs) passed through
 * `rename`; the same node object when nothing changes. ONNX names are unique across a model's
 * scopes, so a subgraph cannot shadow an outer name and renaming every match is safe.
 */
export function renameInputs(node: NodeProto, rename: (name: string) => string): NodeProto {
  const inputs = node.input.map((name) => (name ? rename(name) : name));
  let attributesChanged = false;
  const attributes = node.attribute.map((attribute) => {
    if (!attribute.g && attribute.graphs.length === 0) return attribute;
    const g = attribute.g ? renameInGraph(attribute.g, rename) : undefined;
    const graphs = attribute.graphs.map((graph) => renameInGraph(graph, rename));
    if (g === attribute.g && graphs.every((graph, index) => graph === attribute.graphs[index])) return attribute;
    attributesChanged = true;
    const copy = shallowCopy(AttributeProtoSchema, attribute);
    copy.g = g;
    copy.graphs = graphs;
    return copy;
  });
  const inputsChanged = inputs.some((name, index) => name !== node.input[index]);
  if (!inputsChanged && !attributesChanged) return node;
  const copy = copyNode(node, { input: inputs });
  copy.attribute = attributes;
  return copy;
}

/** What {@link rebuildGraph} changes. */
export interface GraphRebuild {
  /** Each listed node is replaced, in place, by its list (an empty list removes it). */
  readonly replace?: ReadonlyMap<NodeProto, readonly NodeProto[]>;
  readonly addInitializers?: readonly TensorProto[];
  readonly removeInitializers?: Iterable<string>;
  readonly outputs?: readonly ValueInfoProto[];
  /** Renames applied to every node input (subgraph references included) after replacing. */
  readonly renameInputs?: ReadonlyMap<string, string>;
}

/**
 * A new graph with nodes replaced where they stood. Replacement nodes must only read values
 * available at the old node's position (its inputs, new initializers, one another in order),
 * which keeps an already topological graph topological without re-sorting.
 */
export function rebuildGraph(graph: GraphProto, rebuild: GraphRebuild): GraphProto {
  const replace = rebuild.replace ?? new Map<NodeProto, readonly NodeProto[]>();
  let nodes = graph.node.flatMap((node) => replace.get(node) ?? [node]);
  const renames = rebuild.renameInputs;
  if (renames && renames.size > 0) {
    const resolve = (name: string) => renames.get(name) ?? name;
    nodes = nodes.map((node) => renameInputs(node, resolve));
  }
  const staged = shallowCopy(GraphProtoSchema, graph);
  staged.node = nodes;
  return editGraph(staged, {
    removeInitializers: rebuild.removeInitializers ?? [],
    addInitializers: rebuild.addInitializers ?? [],
    ...(rebuild.outputs ? { outputs: rebuild.outputs } : {}),
  });
}

/** Drops value_info entries for names no node, input or initializer defines any more. */
export function pruneValueInfo(graph: GraphProto): GraphProto {
  const defined = new Set<string>([...graph.input.map((v) => v.name), ...graph.initializer.map((t) => t.name)]);
  for (const node of graph.node) for (const output of node.output) if (output) defined.add(output);
  const kept = graph.valueInfo.filter((info) => defined.has(info.name));
  if (kept.length === graph.valueInfo.length) return graph;
  const copy = shallowCopy(GraphProtoSchema, graph);
  copy.valueInfo = kept;
  return copy;
}

/**
 * Initializers among `candidates` that nothing reads any more (no node, subgraph or graph
 * output), for a pass to remove after it rewired their consumers.
 */
export function unusedInitializers(graph: GraphProto, candidates: Iterable<string>): string[] {
  const uses = valueUses(graph);
  const outputs = new Set(graph.output.map((output) => output.name));
  const present = new Set(graph.initializer.map((tensor) => tensor.name));
  return [...new Set(candidates)].filter((name) => present.has(name) && !uses.has(name) && !outputs.has(name));
}

/** A new model holding `graph` as its main graph. */
export function withGraph(model: ModelProto, graph: GraphProto): ModelProto {
  const copy = shallowCopy(ModelProtoSchema, model);
  copy.graph = graph;
  return copy;
}

/**
 * Initializers whose values are fixed, by name. An initializer that is also a graph input
 * (IR ≥ 4) is only a default the caller may override, so it is left out.
 */
export function constantInitializers(model: ModelProto, graph: GraphProto): Map<string, TensorProto> {
  const overridable = model.irVersion >= 4n ? new Set(graph.input.map((input) => input.name)) : new Set<string>();
  return new Map(graph.initializer.filter((tensor) => !overridable.has(tensor.name)).map((tensor) => [tensor.name, tensor]));
}
