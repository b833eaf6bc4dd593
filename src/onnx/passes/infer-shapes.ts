/**
 * A small, forward-only shape inference: element type, rank and the dims that are static, for
 * the ops CNN and OCR exports use. The passes need ranks (is this Softmax axis the last one?
 * is this MatMul 2-D?) and sometimes dims (Flatten → Reshape), while exporters such as
 * paddle2onnx write no value_info at all. Declared types (inputs, value_info, outputs) win over
 * inferred ones; an op without a rule here leaves its outputs unknown, never guessed.
 */
import { DataType } from '../dtype.js';
import type { GraphProto, NodeProto } from '../gen/onnx_pb.js';
import { valueTypeOf } from '../graph.js';
import { decodeTensor, type DecodedTensor } from '../tensor.js';
import { isOnnxOp } from './attributes.js';
import { constantNodeValue } from './constant-value.js';
import { RULES, type ShapeContext, type StaticDim, type TensorFacts } from './shape-rules.js';

export type { StaticDim, TensorFacts } from './shape-rules.js';

/** The result of {@link inferShapes}: facts by value name. */
export class ShapeInfo {
  readonly #facts: ReadonlyMap<string, TensorFacts>;
  readonly #outer: ShapeInfo | undefined;

  constructor(facts: ReadonlyMap<string, TensorFacts>, outer?: ShapeInfo) {
    this.#facts = facts;
    this.#outer = outer;
  }

  /** Facts about a value of this graph or, for a subgraph, of the scopes around it. */
  get(name: string): TensorFacts | undefined {
    return this.#facts.get(name) ?? this.#outer?.get(name);
  }

  rank(name: string): number | undefined {
    return this.get(name)?.dims?.length;
  }

  dims(name: string): readonly StaticDim[] | undefined {
    return this.get(name)?.dims;
  }

  elemType(name: string): number | undefined {
    return this.get(name)?.elemType;
  }
}

function declaredFacts(graph: GraphProto): Map<string, TensorFacts> {
  const facts = new Map<string, TensorFacts>();
  for (const info of [...graph.input, ...graph.valueInfo, ...graph.output]) {
    const type = valueTypeOf(info);
    if (!type) continue;
    facts.set(info.name, {
      elemType: type.dataType || undefined,
      dims: type.shape?.map((dim) => (typeof dim === 'number' && dim >= 0 ? dim : undefined)),
    });
  }
  return facts;
}

/** Prefers the declared facts, filling what they leave open from the inferred ones. */
function merge(declared: TensorFacts | undefined, inferred: TensorFacts): TensorFacts {
  if (!declared) return inferred;
  const dims =
    declared.dims && inferred.dims && declared.dims.length === inferred.dims.length
      ? declared.dims.map((dim, axis) => dim ?? inferred.dims![axis])
      : (declared.dims ?? inferred.dims);
  return { elemType: declared.elemType ?? inferred.elemType, dims };
}

/**
 * Infers facts for every value of `graph` (not its subgraphs) in one walk over its nodes,
 * which must be in topological order, as ONNX requires. For a subgraph, pass the enclosing
 * graph's facts as `outer`: its nodes may read outer values by name.
 * @example inferShapes(model.graph!).rank('softmax_in') // 4
 */
export function inferShapes(graph: GraphProto, outer?: ShapeInfo): ShapeInfo {
  const declared = declaredFacts(graph);
  const facts = new Map(declared);
  const values = new Map<string, DecodedTensor>();
  for (const tensor of graph.initializer) {
    facts.set(tensor.name, { elemType: tensor.dataType, dims: tensor.dims.map(Number) });
    // Only small integer tensors matter here (shapes, axes, pads, scales).
    if (tensor.dims.length <= 1 && Number(tensor.dims[0] ?? 1) <= 64) values.set(tensor.name, safeDecode(tensor));
  }
  const context: ShapeContext = {
    facts: (name) => (name ? (facts.get(name) ?? outer?.get(name)) : undefined),
    values: (name) => {
      const value = name ? values.get(name) : undefined;
      if (!value || typeof value.data[0] === 'string') return undefined;
      return Array.from(value.data as ArrayLike<number | bigint>, Number);
    },
  };
  for (const node of graph.node) {
    const outputs = inferNode(node, context, values);
    node.output.forEach((output, index) => {
      const inferred = outputs?.[index];
      if (output && inferred) facts.set(output, merge(declared.get(output), inferred));
    });
  }
  return new ShapeInfo(facts, outer);
}

function safeDecode(tensor: Parameters<typeof decodeTensor>[0]): DecodedTensor {
  try {
    return decodeTensor(tensor);
  } catch {
    return { name: tensor.name, dataType: DataType.UNDEFINED, dims: [], data: [] };
  }
}

function inferNode(node: NodeProto, context: ShapeContext, values: Map<string, DecodedTensor>): (TensorFacts | undefined)[] | undefined {
  if (!isOnnxOp(node)) return undefined;
  if (node.opType === 'Constant') {
    const value = constantNodeValue(node, node.output[0] ?? '');
    if (!value) return undefined;
    if (value.dims.length <= 1 && (value.dims[0] ?? 1) <= 64) values.set(node.output[0] ?? '', value);
    return [{ elemType: value.dataType, dims: value.dims }];
  }
  const rule = RULES.get(node.opType);
  return rule ? rule(node, context) : undefined;
}
