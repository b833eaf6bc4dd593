import { create, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { KilnError } from '../core/errors.js';
import {
  GraphProtoSchema,
  ModelProtoSchema,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './gen/onnx_pb.js';
import { GraphView } from './graph.js';

/**
 * A new message of the same type sharing the original's field values. Own properties are
 * copied one by one (not spread) so that proto2 presence — which fields were set — and
 * unknown fields survive, and so the copy keeps the schema's prototype.
 */
export function shallowCopy<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): MessageShape<Desc> {
  const copy = create(schema) as Record<string, unknown>;
  for (const key of Object.keys(message)) copy[key] = (message as Record<string, unknown>)[key];
  return copy as MessageShape<Desc>;
}

/** Changes to apply to a graph; see {@link editGraph}. */
export interface GraphEdit {
  /** Nodes to drop, by identity or by name. */
  readonly removeNodes?: Iterable<NodeProto | string>;
  /** Nodes to add; the result is re-sorted topologically. */
  readonly addNodes?: readonly NodeProto[];
  readonly removeInitializers?: Iterable<string>;
  /** New initializers; a name already present is an error unless it is also removed. */
  readonly addInitializers?: readonly TensorProto[];
  readonly addValueInfo?: readonly ValueInfoProto[];
  /** Replace the graph outputs. */
  readonly outputs?: readonly ValueInfoProto[];
}

function editError(message: string): KilnError {
  return new KilnError('KILN_ONNX_GRAPH_EDIT_INVALID', message);
}

/**
 * Returns a new graph with the edit applied; the input graph, its arrays and its nodes are
 * left untouched (unchanged nodes and tensors are shared, never mutated).
 * @example editGraph(graph, { removeNodes: [bn], addNodes: [fusedConv], addInitializers: [w, b] })
 */
export function editGraph(graph: GraphProto, edit: GraphEdit): GraphProto {
  const removeNodes = new Set(edit.removeNodes ?? []);
  const matched = new Set<NodeProto | string>();
  const nodes = graph.node.filter((node) => {
    const hit = removeNodes.has(node) ? node : node.name && removeNodes.has(node.name) ? node.name : undefined;
    if (hit !== undefined) matched.add(hit);
    return hit === undefined;
  });
  for (const wanted of removeNodes) {
    if (!matched.has(wanted)) {
      throw editError(`cannot remove node '${typeof wanted === 'string' ? wanted : wanted.name || wanted.opType}': not in graph '${graph.name}'`);
    }
  }
  const removeInits = new Set(edit.removeInitializers ?? []);
  const initializers = graph.initializer.filter((tensor) => !removeInits.has(tensor.name));
  if (initializers.length + removeInits.size !== graph.initializer.length) {
    const missing = [...removeInits].filter((name) => !graph.initializer.some((tensor) => tensor.name === name));
    throw editError(`cannot remove initializer '${missing[0]}': not in graph '${graph.name}'`);
  }
  const names = new Set(initializers.map((tensor) => tensor.name));
  for (const tensor of edit.addInitializers ?? []) {
    if (names.has(tensor.name)) throw editError(`initializer '${tensor.name}' already exists in graph '${graph.name}'`);
    names.add(tensor.name);
    initializers.push(tensor);
  }
  const next = shallowCopy(GraphProtoSchema, graph);
  next.node = [...nodes, ...(edit.addNodes ?? [])];
  next.initializer = initializers;
  // Graph inputs that name a removed initializer (older exporters list them) go with it.
  if (removeInits.size > 0) next.input = graph.input.filter((input) => !removeInits.has(input.name) || names.has(input.name));
  if (edit.addValueInfo) next.valueInfo = [...graph.valueInfo, ...edit.addValueInfo];
  if (edit.outputs) next.output = [...edit.outputs];
  if (edit.addNodes?.length) next.node = new GraphView(next).topologicalOrder();
  return next;
}

/** Returns a new model whose main graph has the edit applied. */
export function editModel(model: ModelProto, edit: GraphEdit): ModelProto {
  if (!model.graph) throw editError('model has no graph to edit');
  const next = shallowCopy(ModelProtoSchema, model);
  next.graph = editGraph(model.graph, edit);
  return next;
}
