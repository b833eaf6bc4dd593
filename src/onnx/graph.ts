import { KilnError } from '../core/errors.js';
import type { DTypeInfo } from './dtype.js';
import { dtypeInfo } from './dtype.js';
import type { GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto } from './gen/onnx_pb.js';
import { decodeTensor, type DecodedTensor } from './tensor.js';

/** One dimension of a shape: a number, a symbolic name (`batch`), or unknown. */
export type Dim = number | string | undefined;

/** Element type and shape of a tensor value, as far as the model declares them. */
export interface ValueType {
  readonly name: string;
  readonly dataType: number;
  readonly dtype: DTypeInfo | undefined;
  /** Undefined when the rank itself is unknown. */
  readonly shape: readonly Dim[] | undefined;
}

/** The ONNX default domain (`''` and `'ai.onnx'` are the same operator set). */
export const ONNX_DOMAIN = '';

function normalizeDomain(domain: string): string {
  return domain === 'ai.onnx' ? ONNX_DOMAIN : domain;
}

/** The type of a ValueInfoProto, when it is a tensor. */
export function valueTypeOf(info: ValueInfoProto): ValueType | undefined {
  const type = info.type?.value;
  if (type?.case !== 'tensorType') return undefined;
  const shape = type.value.shape?.dim.map((dim): Dim => {
    if (dim.value.case === 'dimValue') return Number(dim.value.value);
    if (dim.value.case === 'dimParam') return dim.value.value;
    return undefined;
  });
  return { name: info.name, dataType: type.value.elemType, dtype: dtypeInfo(type.value.elemType), shape };
}

/**
 * A read-only index over one GraphProto: who produces and consumes each value, initializers
 * by name, declared types, and a topological order. Built once; the graph must not be mutated
 * while a view on it is in use (edits go through `editGraph`, which returns a new graph).
 */
export class GraphView {
  readonly graph: GraphProto;
  readonly #producers = new Map<string, NodeProto>();
  readonly #consumers = new Map<string, NodeProto[]>();
  readonly #initializers = new Map<string, TensorProto>();
  readonly #types = new Map<string, ValueType>();

  constructor(graph: GraphProto) {
    this.graph = graph;
    for (const tensor of graph.initializer) this.#initializers.set(tensor.name, tensor);
    for (const node of graph.node) {
      for (const output of node.output) if (output) this.#producers.set(output, node);
      for (const input of node.input) {
        if (!input) continue;
        const list = this.#consumers.get(input);
        if (list) {
          if (!list.includes(node)) list.push(node);
        } else this.#consumers.set(input, [node]);
      }
    }
    for (const info of [...graph.valueInfo, ...graph.input, ...graph.output]) {
      const type = valueTypeOf(info);
      if (type) this.#types.set(info.name, type);
    }
    for (const tensor of graph.initializer) {
      if (!this.#types.has(tensor.name)) {
        this.#types.set(tensor.name, {
          name: tensor.name,
          dataType: tensor.dataType,
          dtype: dtypeInfo(tensor.dataType),
          shape: tensor.dims.map(Number),
        });
      }
    }
  }

  /** Nodes in file order. */
  get nodes(): readonly NodeProto[] {
    return this.graph.node;
  }

  /** Graph inputs that are not initializers (what a caller must feed). */
  get feedInputs(): readonly ValueInfoProto[] {
    return this.graph.input.filter((input) => !this.#initializers.has(input.name));
  }

  /** The node producing a value, or undefined for graph inputs and initializers. */
  producer(value: string): NodeProto | undefined {
    return this.#producers.get(value);
  }

  /** Nodes reading a value (each once, in file order). */
  consumers(value: string): readonly NodeProto[] {
    return this.#consumers.get(value) ?? [];
  }

  /** True when a graph output reads the value. */
  isGraphOutput(value: string): boolean {
    return this.graph.output.some((output) => output.name === value);
  }

  initializer(name: string): TensorProto | undefined {
    return this.#initializers.get(name);
  }

  /** An initializer's values as a typed array (a fresh copy). */
  initializerValues(name: string): DecodedTensor | undefined {
    const tensor = this.#initializers.get(name);
    return tensor ? decodeTensor(tensor) : undefined;
  }

  get initializerNames(): readonly string[] {
    return [...this.#initializers.keys()];
  }

  /** Declared type and shape of a value (inputs, outputs, value_info, initializers). */
  valueType(name: string): ValueType | undefined {
    return this.#types.get(name);
  }

  /**
   * Nodes ordered so each comes after the producers of its inputs (Kahn's algorithm, ties
   * kept in file order). Throws `KILN_ONNX_MODEL_INVALID` when the graph has a cycle.
   */
  topologicalOrder(): NodeProto[] {
    const pending = new Map<NodeProto, number>();
    for (const node of this.graph.node) {
      const producers = new Set<NodeProto>();
      for (const input of node.input) {
        const producer = input ? this.#producers.get(input) : undefined;
        if (producer && producer !== node) producers.add(producer);
      }
      pending.set(node, producers.size);
    }
    const ready = this.graph.node.filter((node) => pending.get(node) === 0);
    const order: NodeProto[] = [];
    for (let index = 0; index < ready.length; index++) {
      const node = ready[index]!;
      order.push(node);
      const released = new Set<NodeProto>();
      for (const output of node.output) for (const consumer of this.consumers(output)) released.add(consumer);
      for (const consumer of released) {
        if (consumer === node) continue;
        const left = pending.get(consumer)! - 1;
        pending.set(consumer, left);
        if (left === 0) ready.push(consumer);
      }
    }
    if (order.length !== this.graph.node.length) {
      const stuck = this.graph.node.find((node) => !order.includes(node));
      throw new KilnError(
        'KILN_ONNX_MODEL_INVALID',
        `graph '${this.graph.name}' has a cycle through node '${stuck?.name || stuck?.opType}'`,
      );
    }
    return order;
  }
}

/** Opset version a model imports for a domain (`''` = ONNX), or undefined. */
export function opsetVersion(model: ModelProto, domain = ONNX_DOMAIN): number | undefined {
  const wanted = normalizeDomain(domain);
  const entry = model.opsetImport.find((opset) => normalizeDomain(opset.domain) === wanted);
  return entry ? Number(entry.version) : undefined;
}
