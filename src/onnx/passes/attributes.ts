/**
 * Reading and rewriting node attributes. ONNX stores each attribute in a type-specific field;
 * these helpers read the one a caller expects and fall back to the op's default when absent.
 */
import { makeAttribute, type AttributeValue, type TypedAttribute } from '../build.js';
import { shallowCopy } from '../edit.js';
import {
  AttributeProto_AttributeType as AttributeType,
  NodeProtoSchema,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
} from '../gen/onnx_pb.js';

/** The attribute called `name`, whatever its type. */
export function findAttribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((attribute) => attribute.name === name);
}

/** An INT attribute (a FLOAT one is accepted too), or `fallback`. */
export function intAttribute(node: NodeProto, name: string, fallback: number): number;
export function intAttribute(node: NodeProto, name: string): number | undefined;
export function intAttribute(node: NodeProto, name: string, fallback?: number): number | undefined {
  const attribute = findAttribute(node, name);
  if (attribute?.type === AttributeType.INT) return Number(attribute.i);
  if (attribute?.type === AttributeType.FLOAT) return attribute.f;
  return fallback;
}

/** A FLOAT attribute (an INT one is accepted too), or `fallback`. */
export function floatAttribute(node: NodeProto, name: string, fallback: number): number;
export function floatAttribute(node: NodeProto, name: string): number | undefined;
export function floatAttribute(node: NodeProto, name: string, fallback?: number): number | undefined {
  const attribute = findAttribute(node, name);
  if (attribute?.type === AttributeType.FLOAT) return attribute.f;
  if (attribute?.type === AttributeType.INT) return Number(attribute.i);
  return fallback;
}

/** An INTS attribute as numbers, or undefined when absent. */
export function intsAttribute(node: NodeProto, name: string): number[] | undefined {
  const attribute = findAttribute(node, name);
  return attribute?.type === AttributeType.INTS ? attribute.ints.map(Number) : undefined;
}

/** A FLOATS attribute, or undefined when absent. */
export function floatsAttribute(node: NodeProto, name: string): number[] | undefined {
  const attribute = findAttribute(node, name);
  return attribute?.type === AttributeType.FLOATS ? [...attribute.floats] : undefined;
}

/** A STRING attribute decoded as UTF-8, or `fallback`. */
export function stringAttribute(node: NodeProto, name: string, fallback: string): string;
export function stringAttribute(node: NodeProto, name: string): string | undefined;
export function stringAttribute(node: NodeProto, name: string, fallback?: string): string | undefined {
  const attribute = findAttribute(node, name);
  return attribute?.type === AttributeType.STRING ? new TextDecoder().decode(attribute.s) : fallback;
}

/** A TENSOR attribute (ConstantOfShape's value…), or undefined. */
export function tensorAttribute(node: NodeProto, name: string): TensorProto | undefined {
  const attribute = findAttribute(node, name);
  return attribute?.type === AttributeType.TENSOR ? attribute.t : undefined;
}

/** What {@link copyNode} changes; everything not named is shared with the original. */
export interface NodeChanges {
  readonly opType?: string;
  readonly name?: string;
  readonly input?: readonly string[];
  readonly output?: readonly string[];
  /** Attributes to drop (by name). */
  readonly removeAttributes?: readonly string[];
  /** Attributes to add or replace. */
  readonly setAttributes?: Readonly<Record<string, AttributeValue | TypedAttribute>>;
}

/** A new node like `node` with the changes applied; `node` itself is left untouched. */
export function copyNode(node: NodeProto, changes: NodeChanges): NodeProto {
  const copy = shallowCopy(NodeProtoSchema, node);
  if (changes.opType !== undefined) copy.opType = changes.opType;
  if (changes.name !== undefined) copy.name = changes.name;
  copy.input = [...(changes.input ?? node.input)];
  copy.output = [...(changes.output ?? node.output)];
  const set = Object.entries(changes.setAttributes ?? {});
  const drop = new Set([...(changes.removeAttributes ?? []), ...set.map(([name]) => name)]);
  copy.attribute = [
    ...node.attribute.filter((attribute) => !drop.has(attribute.name)),
    ...set.map(([name, value]) => makeAttribute(name, value)),
  ];
  return copy;
}

/** True when the node belongs to the default ONNX operator set. */
export function isOnnxOp(node: NodeProto, opType?: string): boolean {
  return (node.domain === '' || node.domain === 'ai.onnx') && (opType === undefined || node.opType === opType);
}

/** A readable label for messages: the node's name, else its op and first output. */
export function nodeLabel(node: NodeProto): string {
  return node.name ? `'${node.name}'` : `${node.opType} -> '${node.output[0] ?? ''}'`;
}
