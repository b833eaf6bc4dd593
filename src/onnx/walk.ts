import type { AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto } from './gen/onnx_pb.js';

/** Where a tensor was found while walking a model. */
export interface TensorSite {
  readonly tensor: TensorProto;
  /** `initializer`, `attribute` (Constant values, attribute tensors) or `sparse`. */
  readonly role: 'initializer' | 'attribute' | 'sparse';
  /** The node holding an attribute tensor. */
  readonly node?: NodeProto;
}

/** Every graph in a model: the main graph, then subgraphs (If/Loop/Scan bodies) depth first. */
export function* allGraphs(model: ModelProto): Generator<GraphProto> {
  if (model.graph) yield* graphAndSubgraphs(model.graph);
  for (const fn of model.functions) {
    for (const node of fn.node) yield* subgraphsOfNode(node);
  }
}

function* graphAndSubgraphs(graph: GraphProto): Generator<GraphProto> {
  yield graph;
  for (const node of graph.node) yield* subgraphsOfNode(node);
}

function* subgraphsOfNode(node: NodeProto): Generator<GraphProto> {
  for (const attribute of node.attribute) {
    if (attribute.g) yield* graphAndSubgraphs(attribute.g);
    for (const graph of attribute.graphs) yield* graphAndSubgraphs(graph);
  }
}

function* attributeTensors(attribute: AttributeProto): Generator<TensorProto> {
  if (attribute.t) yield attribute.t;
  yield* attribute.tensors;
  if (attribute.sparseTensor?.values) yield attribute.sparseTensor.values;
  if (attribute.sparseTensor?.indices) yield attribute.sparseTensor.indices;
  for (const sparse of attribute.sparseTensors) {
    if (sparse.values) yield sparse.values;
    if (sparse.indices) yield sparse.indices;
  }
}

function* nodeTensors(nodes: readonly NodeProto[]): Generator<TensorSite> {
  for (const node of nodes) {
    for (const attribute of node.attribute) {
      for (const tensor of attributeTensors(attribute)) yield { tensor, role: 'attribute', node };
    }
  }
}

/**
 * Every TensorProto stored in a model, wherever it sits: graph initializers, sparse
 * initializers, and tensors inside node attributes (Constant nodes, subgraphs, functions).
 * This is the set external data applies to.
 */
export function* allTensors(model: ModelProto): Generator<TensorSite> {
  for (const graph of allGraphs(model)) {
    for (const tensor of graph.initializer) yield { tensor, role: 'initializer' };
    for (const sparse of graph.sparseInitializer) {
      if (sparse.values) yield { tensor: sparse.values, role: 'sparse' };
      if (sparse.indices) yield { tensor: sparse.indices, role: 'sparse' };
    }
    yield* nodeTensors(graph.node);
  }
  for (const fn of model.functions) yield* nodeTensors(fn.node);
}
