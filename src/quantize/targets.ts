import type { GraphView } from '../onnx/graph.js';
import { absorbableShape } from './absorb.js';
import { opQuantizerFor } from './ops/op-table.js';

/** Ops whose output range is needed although they have no table entry (absorbed into producers). */
const ABSORBED_OPS = new Set(['Relu', 'Clip']);

/**
 * Tensors whose ranges the quantizer may need: inputs and outputs of every node whose op has a
 * quantizer or can be absorbed, minus initializers. Types are learned at run time (only float32
 * values are observed), so no shape inference is needed.
 *
 * Not the input of an absorbable Relu/Clip: its producer's Q takes the activation's range
 * (plan.ts), so that tensor's range is never read. In MobileNetV2 these are the widest tensors
 * (every expand and depthwise Conv's output), and exposing them was most of calibration's cost.
 */
export function calibrationTargets(view: GraphView): string[] {
  const targets = new Set<string>();
  const neverRead = new Set(view.nodes.flatMap((node) => absorbableShape(view, node)?.input ?? []));
  for (const node of view.nodes) {
    const domain = node.domain === 'ai.onnx' ? '' : node.domain;
    if (!opQuantizerFor(node.opType, domain) && !(domain === '' && ABSORBED_OPS.has(node.opType))) continue;
    for (const name of [...node.input, ...node.output]) if (name && !view.initializer(name) && !neverRead.has(name)) targets.add(name);
  }
  return [...targets];
}
