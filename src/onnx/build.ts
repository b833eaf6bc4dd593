import { create } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType as AttributeType,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './gen/onnx_pb.js';
import type { Dim } from './graph.js';

/** Attribute values {@link makeNode} accepts; the ONNX attribute type is inferred. */
export type AttributeValue = number | bigint | string | readonly number[] | readonly string[] | TensorProto | GraphProto;

/** A value that an explicitly typed attribute needs (`1.0` is INT unless said otherwise). */
export interface TypedAttribute {
  readonly type: 'float' | 'floats' | 'int' | 'ints';
  readonly value: number | readonly number[];
}

/**
 * Attributes ONNX declares as FLOAT wherever they appear (Gemm alpha/beta, BatchNormalization
 * epsilon, LeakyRelu alpha, Clip min/max before opset 11…): a whole number given for one of
 * these is still written as a float, since onnxruntime rejects an INT there.
 */
const FLOAT_ATTRIBUTES = new Set([
  'alpha',
  'beta',
  'gamma',
  'epsilon',
  'momentum',
  'ratio',
  'lambd',
  'bias',
  'spatial_scale',
  'extrapolation_value',
  'cubic_coeff_a',
  'min',
  'max',
]);

function isTypedAttribute(value: unknown): value is TypedAttribute {
  return typeof value === 'object' && value !== null && 'type' in value && 'value' in value && !('$typeName' in value);
}

/**
 * Builds an AttributeProto. Integers become INT/INTS and non-integers FLOAT/FLOATS, except for
 * the names in FLOAT_ATTRIBUTES, which are always floats; pass `{type: 'float', value: 1}` for
 * any other whole number that must be a float.
 */
export function makeAttribute(name: string, value: AttributeValue | TypedAttribute): AttributeProto {
  const attribute = create(AttributeProtoSchema, { name });
  if (isTypedAttribute(value)) {
    const list = typeof value.value === 'number' ? [value.value] : [...value.value];
    if (value.type === 'float') Object.assign(attribute, { type: AttributeType.FLOAT, f: list[0] });
    if (value.type === 'floats') Object.assign(attribute, { type: AttributeType.FLOATS, floats: list });
    if (value.type === 'int') Object.assign(attribute, { type: AttributeType.INT, i: BigInt(list[0]!) });
    if (value.type === 'ints') Object.assign(attribute, { type: AttributeType.INTS, ints: list.map(BigInt) });
    return attribute;
  }
  if (typeof value === 'bigint') return Object.assign(attribute, { type: AttributeType.INT, i: value });
  if (typeof value === 'number') {
    return Number.isInteger(value) && !FLOAT_ATTRIBUTES.has(name)
      ? Object.assign(attribute, { type: AttributeType.INT, i: BigInt(value) })
      : Object.assign(attribute, { type: AttributeType.FLOAT, f: value });
  }
  if (typeof value === 'string') {
    return Object.assign(attribute, { type: AttributeType.STRING, s: new TextEncoder().encode(value) });
  }
  if (Array.isArray(value)) {
    if (value.every((item) => typeof item === 'string')) {
      const encoder = new TextEncoder();
      return Object.assign(attribute, { type: AttributeType.STRINGS, strings: value.map((s: string) => encoder.encode(s)) });
    }
    const numbers = value as readonly number[];
    return numbers.every(Number.isInteger) && !FLOAT_ATTRIBUTES.has(name)
      ? Object.assign(attribute, { type: AttributeType.INTS, ints: numbers.map(BigInt) })
      : Object.assign(attribute, { type: AttributeType.FLOATS, floats: [...numbers] });
  }
  const message = value as TensorProto | GraphProto;
  if (message.$typeName === 'onnx.TensorProto') return Object.assign(attribute, { type: AttributeType.TENSOR, t: message });
  return Object.assign(attribute, { type: AttributeType.GRAPH, g: message });
}

/** Options for {@link makeNode}. */
export interface NodeInit {
  readonly name?: string;
  readonly domain?: string;
  readonly attributes?: Readonly<Record<string, AttributeValue | TypedAttribute>>;
}

/** Builds a NodeProto. Empty strings in `inputs` mark omitted optional inputs, as ONNX does. */
export function makeNode(opType: string, inputs: readonly string[], outputs: readonly string[], init: NodeInit = {}): NodeProto {
  const node = create(NodeProtoSchema, { opType, input: [...inputs], output: [...outputs] });
  if (init.name !== undefined) node.name = init.name;
  if (init.domain !== undefined) node.domain = init.domain;
  node.attribute = Object.entries(init.attributes ?? {}).map(([name, value]) => makeAttribute(name, value));
  return node;
}

/** Builds a tensor ValueInfoProto. `undefined` dims are unknown; strings are symbolic (`batch`). */
export function makeValueInfo(name: string, dataType: number, shape: readonly Dim[] | undefined): ValueInfoProto {
  const tensorType = create(TypeProto_TensorSchema, { elemType: dataType });
  if (shape) {
    tensorType.shape = create(TensorShapeProtoSchema, {
      dim: shape.map((dim) =>
        create(TensorShapeProto_DimensionSchema, {
          value:
            typeof dim === 'number'
              ? { case: 'dimValue', value: BigInt(dim) }
              : typeof dim === 'string'
                ? { case: 'dimParam', value: dim }
                : { case: undefined },
        }),
      ),
    });
  }
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } }),
  });
}

/** Parts of a model for {@link makeModel}. */
export interface ModelInit {
  readonly name: string;
  readonly nodes: readonly NodeProto[];
  readonly inputs: readonly ValueInfoProto[];
  readonly outputs: readonly ValueInfoProto[];
  readonly initializers?: readonly TensorProto[];
  readonly valueInfo?: readonly ValueInfoProto[];
  /** ONNX opset. @defaultValue 17 */
  readonly opset?: number;
  /** Extra operator sets, e.g. `{ 'com.microsoft': 1 }`. */
  readonly extraOpsets?: Readonly<Record<string, number>>;
  /** @defaultValue 8 (what ORT 1.x reads for opset 17) */
  readonly irVersion?: number;
  /** @defaultValue `'kiln'` */
  readonly producerName?: string;
}

/** Builds a ModelProto around one graph. */
export function makeModel(init: ModelInit): ModelProto {
  const graph = create(GraphProtoSchema, {
    name: init.name,
    node: [...init.nodes],
    input: [...init.inputs],
    output: [...init.outputs],
    initializer: [...(init.initializers ?? [])],
    valueInfo: [...(init.valueInfo ?? [])],
  });
  const opsets = [
    create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(init.opset ?? 17) }),
    ...Object.entries(init.extraOpsets ?? {}).map(([domain, version]) =>
      create(OperatorSetIdProtoSchema, { domain, version: BigInt(version) }),
    ),
  ];
  return create(ModelProtoSchema, {
    irVersion: BigInt(init.irVersion ?? 8),
    producerName: init.producerName ?? 'kiln',
    opsetImport: opsets,
    graph,
  });
}
