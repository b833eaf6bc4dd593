/**
 * Float Conv / ConvTranspose / Gemm nodes (excluded, or not planned) that read a quantized
 * activation. ONNX Runtime's WeightBiasQuantization transformer (a basic-level graph
 * transformer; measured with onnxruntime-node 1.30) takes any such node whose input 0 comes
 * from a DequantizeLinear with a scalar scale and a float32 weight initializer, and quantizes
 * that weight itself: symmetric INT8 with one scale for the whole tensor, plus an int32 bias. For a
 * depthwise or BatchNorm-folded conv, whose channels differ in scale by orders of magnitude,
 * that is far worse than kiln's per-channel weights, so "keeping a layer float" made the model
 * worse than quantizing it. The guard: such a node reads its input through a DequantizeLinear
 * of its own with the same scale and zero point repeated per input channel (axis = channel
 * axis). It computes exactly the same values, but its scale is not a scalar, so the transformer
 * leaves the weight float; the shared Q → DQ pair and its other consumers are untouched.
 */
import { makeNode } from '../onnx/build.js';
import { DataType } from '../onnx/dtype.js';
import type { NodeProto } from '../onnx/gen/onnx_pb.js';
import type { GraphView } from '../onnx/graph.js';
import { attributeNumber } from './ops/attributes.js';
import type { ConstantSink } from './emit-constants.js';
import type { QuantParams } from './math.js';
import type { ResolvedQuantizeOptions } from './options.js';

/** Op types the transformer rewrites. */
const WEIGHTED_OPS = new Set(['Conv', 'ConvTranspose', 'Gemm']);

/** The input channel count and the axis it lies on in input 0, or undefined when unknown. */
function inputChannels(view: GraphView, node: NodeProto): { channels: number; axis: number } | undefined {
  const weight = view.initializer(node.input[1] ?? '');
  if (!weight || weight.dataType !== DataType.FLOAT) return undefined;
  const dims = weight.dims.map(Number);
  switch (node.opType) {
    case 'Conv':
      return dims.length >= 3 ? { channels: dims[1]! * attributeNumber(node, 'group', 1), axis: 1 } : undefined;
    case 'ConvTranspose':
      return dims.length >= 3 ? { channels: dims[0]!, axis: 1 } : undefined;
    case 'Gemm': {
      if (dims.length !== 2) return undefined;
      const channels = attributeNumber(node, 'transB', 0) ? dims[1]! : dims[0]!;
      return { channels, axis: attributeNumber(node, 'transA', 0) ? 0 : 1 };
    }
    default:
      return undefined;
  }
}

/** What the guard needs to know about one quantized activation. */
export interface QuantizedTensor {
  /** The QuantizeLinear output (integers). */
  readonly quantized: string;
  /** The name the float value still has (the producer's output). */
  readonly float: string;
  readonly params: QuantParams;
}

/**
 * For a float node that ONNX Runtime would quantize on its own, the input 0 name it should read
 * instead, and the DequantizeLinear that produces it. Undefined when the node is not at risk.
 * With a single input channel a per-axis scale would still be a scalar, so such a node reads the
 * float tensor itself (its producer then keeps a float output beside the Q: correct, rarely hit).
 */
export function guardFloatWeightedInput(
  view: GraphView,
  node: NodeProto,
  tensor: QuantizedTensor | undefined,
  sink: ConstantSink,
  options: ResolvedQuantizeOptions,
): { input: string; nodes: NodeProto[] } | undefined {
  if (!tensor || node.domain !== '' || !WEIGHTED_OPS.has(node.opType)) return undefined;
  const shape = inputChannels(view, node);
  if (!shape) return undefined;
  if (shape.channels <= 1) return { input: tensor.float, nodes: [] };
  const base = `${node.input[0]!}_for_${node.name || node.output[0]!}`;
  const scales = new Float32Array(shape.channels).fill(tensor.params.scale);
  const zeroPoints =
    options.activationType === 'uint8'
      ? { type: DataType.UINT8, data: new Uint8Array(shape.channels).fill(tensor.params.zeroPoint) }
      : { type: DataType.INT8, data: new Int8Array(shape.channels).fill(tensor.params.zeroPoint) };
  const scale = sink.add(`${base}_scale`, DataType.FLOAT, [shape.channels], scales);
  const zeroPoint = sink.add(`${base}_zp`, zeroPoints.type, [shape.channels], zeroPoints.data);
  const output = sink.name(`${base}_dq`);
  return { input: output, nodes: [makeNode('DequantizeLinear', [tensor.quantized, scale, zeroPoint], [output], { attributes: { axis: shape.axis } })] };
}
