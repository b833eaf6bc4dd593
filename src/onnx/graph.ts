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
   * Nodes ordered so each comes after the producers of its inputs. Among nodes that are ready
   * at the same time the one earliest in the file goes first, so an already sorted graph comes
   * back unchanged (Kahn's algorithm with a min-heap on file position). Throws
   * `KILN_ONNX_MODEL_INVALID` when the graph has a cycle.
   */
  topologicalOrder(): NodeProto[] {
    const nodes = this.graph.node;
    const position = new Map(nodes.map((node, index) => [node, index]));
    const pending = nodes.map((node) => {
      const producers = new Set<NodeProto>();
      for (const input of node.input) {
        const producer = input ? this.#producers.get(input) : undefined;
        if (producer && producer !== node) producers.add(producer);
      }
      return producers.size;
    });
    const ready = new MinHeap();
    pending.forEach((count, index) => count === 0 && ready.push(index));
    const order: NodeProto[] = [];
    while (ready.size > 0) {
      const node = nodes[ready.pop()]!;
      order.push(node);
      const released = new Set<NodeProto>();
      for (const output of node.output) for (const consumer of this.consumers(output)) released.add(consumer);
      for (const consumer of released) {
        if (consumer === node) continue;
        const index = position.get(consumer)!;
        if (--pending[index]! === 0) ready.push(index);
      }
    }
    if (order.length !== nodes.length) {
      const placed = new Set(order);
      const stuck = nodes.find((node) => !placed.has(node));
      throw new KilnError(
        'KILN_ONNX_MODEL_INVALID',
        `graph '${this.graph.name}' has a cycle through node '${stuck?.name || stuck?.opType}'`,
      );
    }
    return order;
  }
}

/** A binary min-heap of numbers, just enough for a stable topological sort. */
class MinHeap {
  readonly #items: number[] = [];

  get size(): number {
    return this.#items.length;
  }

  push(value: number): void {
    const items = this.#items;
    items.push(value);
    let child = items.length - 1;
    while (child > 0) {
      const parent = (child - 1) >> 1;
      if (items[parent]! <= value) break;
      items[child] = items[parent]!;
      child = parent;
    }
    items[child] = value;
  }

  pop(): number {
    const items = this.#items;
    const top = items[0]!;
    const last = items.pop()!;
    if (items.length > 0) {
      let parent = 0;
      for (;;) {
        let child = 2 * parent + 1;
        if (child >= items.length) break;
        if (child + 1 < items.length && items[child + 1]! < items[child]!) child++;
        if (items[child]! >= last) break;
        items[parent] = items[child]!;
        parent = child;
      }
      items[parent] = last;
    }
    return top;
  }
}

/** Opset version a model imports for a domain (`''` = ONNX), or undefined. */
export function opsetVersion(model: ModelProto, domain = ONNX_DOMAIN): number | undefined {
  const wanted = normalizeDomain(domain);
  const entry = model.opsetImport.find((opset) => normalizeDomain(opset.domain) === wanted);
  return entry ? Number(entry.version) : undefined;
}
