import { AttributeProto_AttributeType as AttributeType, type NodeProto } from '../../onnx/gen/onnx_pb.js';

/** A scalar INT or FLOAT attribute of a node, or `fallback` when absent. */
export function attributeNumber(node: NodeProto, name: string, fallback: number): number {
  const attribute = node.attribute.find((candidate) => candidate.name === name);
  if (attribute?.type === AttributeType.INT) return Number(attribute.i);
  if (attribute?.type === AttributeType.FLOAT) return attribute.f;
  return fallback;
}
