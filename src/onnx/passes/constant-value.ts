/**
 * The value of a `Constant` node as a tensor. ONNX lets a Constant carry its value in one of
 * several attributes: `value` (a tensor), `value_float(s)`, `value_int(s)`, `value_string(s)`,
 * or `sparse_value`, which kiln leaves alone (it would need densifying).
 */
import { DataType } from '../dtype.js';
import { shallowCopy } from '../edit.js';
import { AttributeProto_AttributeType as AttributeType, TensorProtoSchema, type NodeProto, type TensorProto } from '../gen/onnx_pb.js';
import { decodeTensor, encodeTensor, type DecodedTensor } from '../tensor.js';

/**
 * The Constant's value as a TensorProto named `name`, or undefined for a sparse or missing
 * value. A `value` tensor is shared, not decoded, so its bytes (and any type) survive as is.
 */
export function constantNodeTensor(node: NodeProto, name: string): TensorProto | undefined {
  for (const attribute of node.attribute) {
    switch (attribute.name) {
      case 'value': {
        if (attribute.type !== AttributeType.TENSOR || !attribute.t) return undefined;
        const copy = shallowCopy(TensorProtoSchema, attribute.t);
        copy.name = name;
        return copy;
      }
      case 'value_float':
        return encodeTensor({ name, dataType: DataType.FLOAT, dims: [], data: Float32Array.of(attribute.f) });
      case 'value_floats':
        return encodeTensor({ name, dataType: DataType.FLOAT, dims: [attribute.floats.length], data: Float32Array.from(attribute.floats) });
      case 'value_int':
        return encodeTensor({ name, dataType: DataType.INT64, dims: [], data: BigInt64Array.of(attribute.i) });
      case 'value_ints':
        return encodeTensor({ name, dataType: DataType.INT64, dims: [attribute.ints.length], data: BigInt64Array.from(attribute.ints) });
      case 'value_string':
        return encodeTensor({ name, dataType: DataType.STRING, dims: [], data: [new TextDecoder().decode(attribute.s)] });
      case 'value_strings': {
        const decoder = new TextDecoder();
        return encodeTensor({ name, dataType: DataType.STRING, dims: [attribute.strings.length], data: attribute.strings.map((s) => decoder.decode(s)) });
      }
      default:
        break;
    }
  }
  return undefined;
}

/** The Constant's value decoded, or undefined (sparse, missing, or undecodable). */
export function constantNodeValue(node: NodeProto, name: string): DecodedTensor | undefined {
  const tensor = constantNodeTensor(node, name);
  if (!tensor) return undefined;
  try {
    return decodeTensor(tensor);
  } catch {
    return undefined;
  }
}
