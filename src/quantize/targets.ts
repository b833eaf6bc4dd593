import type { GraphView } from '../onnx/graph.js';
import { opQuantizerFor } from './ops/op-table.js';

/** Ops whose output range is needed although they have no table entry (absorbed into producers). */
const ABSORBED_OPS = new Set(['Relu', 'Clip']);

/**
 * Tensors whose ranges the quantizer may need: inputs and outputs of every node whose op has a
 * quantizer or can be absorbed, minus initializers. Types are learned at run time (only float32
 * values are observed), so no shape inference is needed.
 */
export function calibrationTargets(view: GraphView): string[] {
  const targets = new Set<string>();
  for (const node of view.nodes) {
    const domain = node.domain === 'ai.onnx' ? '' : node.domain;
    if (!opQuantizerFor(node.opType, domain) && !(domain === '' && ABSORBED_OPS.has(node.opType))) continue;
    for (const name of [...node.input, ...node.output]) if (name && !view.initializer(name)) targets.add(name);
  }
  return [...targets];
}
