import type { NodeProto } from '../onnx/gen/onnx_pb.js';
import type { GraphView } from '../onnx/graph.js';
import { decodeTensor } from '../onnx/tensor.js';
import type { TensorRange } from './calibrate/types.js';
import type { NodePlan } from './ops/types.js';

/** A Relu or Clip folded into its producer's output range (spec §4): the node disappears. */
export interface Absorption {
  readonly activation: NodeProto;
  readonly producer: NodeProto;
  /** The producer's output the activation read, renamed to the activation's output. */
  readonly producerOutput: number;
  /** Upper clip of a Clip (Infinity for Relu), applied to the range. */
  readonly upperBound: number;
}

/** A scalar float initializer's value, or undefined when the input is absent or not constant. */
function scalarInitializer(view: GraphView, name: string | undefined): number | undefined {
  if (!name) return undefined;
  const tensor = view.initializer(name);
  if (!tensor) return undefined;
  const { data } = decodeTensor(tensor);
  return data.length === 1 && typeof data[0] === 'number' ? data[0] : undefined;
}

/** The part of an absorption that depends on the graph alone, not on the plan or the ranges. */
export interface AbsorbableShape {
  /** The producer's output the activation reads: it needs no range of its own. */
  readonly input: string;
  /** The activation's output, whose range the producer's Q takes over. */
  readonly output: string;
  readonly upperBound: number;
}

/**
 * When `node` is a Relu, or a Clip with lower bound 0 and a constant (or no) upper bound, whose
 * input only it reads and neither tensor is a graph output (that output would lose the clamp),
 * the activation can be folded into its producer's output range if the producer is quantized.
 * Calibration uses this to skip observing `input` (its range would never be read).
 */
export function absorbableShape(view: GraphView, node: NodeProto): AbsorbableShape | undefined {
  let upperBound = Number.POSITIVE_INFINITY;
  if (node.opType === 'Clip' && node.domain === '') {
    if (scalarInitializer(view, node.input[1]) !== 0) return undefined;
    if (node.input[2]) {
      const max = scalarInitializer(view, node.input[2]);
      if (max === undefined) return undefined;
      upperBound = max;
    }
  } else if (node.opType !== 'Relu' || node.domain !== '') return undefined;
  const input = node.input[0];
  const output = node.output[0];
  if (!input || !output) return undefined;
  if (view.isGraphOutput(input) || view.isGraphOutput(output) || view.consumers(input).length !== 1) return undefined;
  if (!view.producer(input)) return undefined;
  return { input, output, upperBound };
}

/**
 * When `node` has an absorbable shape and its producer is planned with that output quantized
 * from a calibrated range, the activation can go: the producer's Q clamps at its zero point
 * (real 0) and at the range's top, which is exactly what the activation did — valid because
 * activations are asymmetric with a range starting at 0.
 */
export function absorbableActivation(
  view: GraphView,
  node: NodeProto,
  planned: ReadonlyMap<NodeProto, NodePlan>,
  ranges: ReadonlyMap<string, TensorRange>,
): Absorption | undefined {
  const shape = absorbableShape(view, node);
  if (!shape || !ranges.has(shape.output)) return undefined;
  const producer = view.producer(shape.input);
  const plan = producer && planned.get(producer);
  if (!producer || !plan) return undefined;
  const producerOutput = producer.output.indexOf(shape.input);
  if (!plan.outputs.includes(producerOutput) || plan.outputParams.kind !== 'calibrated') return undefined;
  return { activation: node, producer, producerOutput, upperBound: shape.upperBound };
}
