/**
 * What an opset converter gets to work with, and the one way it refuses. Kept apart from the
 * converters so the two converter files and the driver share it without a cycle.
 */
import { KilnError } from '../../core/errors.js';
import { dtypeName, type TensorData } from '../dtype.js';
import type { NodeProto } from '../gen/onnx_pb.js';
import { nodeLabel } from './attributes.js';
import type { ShapeInfo } from './infer-shapes.js';

/** Services the upgrade driver offers a converter for one graph. */
export interface ConvertContext {
  /** The model's ai.onnx opset and the one being converted to. */
  readonly source: number;
  readonly target: number;
  readonly shapes: ShapeInfo;
  /** Values of a constant operand (initializer or Constant node), as numbers. */
  constantValues(name: string): number[] | undefined;
  /** Adds an initializer with a fresh name based on `base`; returns that name. */
  addInitializer(base: string, dataType: number, dims: readonly number[], data: TensorData): string;
  freshName(base: string): string;
  /** True when a node (or subgraph) reads the value, or it is a graph output. */
  isUsed(name: string): boolean;
}

/** Rewrites one node whose schema changed between the context's source and target opsets. */
export interface OpConverter {
  /** The opsets whose changes this converter takes care of (it may still refuse a case). */
  readonly handles: readonly number[];
  /** Replacement nodes, in order; the last ones write the original node's outputs. */
  convert(node: NodeProto, context: ConvertContext): readonly NodeProto[];
}

/** True when the upgrade passes opset `version` (source < version ≤ target). */
export function crosses(context: ConvertContext, version: number): boolean {
  return context.source < version && version <= context.target;
}

/** The error for a node kiln cannot convert (`KILN_ONNX_OPSET_UNSUPPORTED`). */
export function unsupportedUpgrade(node: NodeProto, source: number, target: number, reason: string): KilnError {
  return new KilnError(
    'KILN_ONNX_OPSET_UNSUPPORTED',
    `cannot upgrade ${node.opType} node ${nodeLabel(node)} from opset ${source} to ${target}: ${reason}`,
    { details: { opType: node.opType, node: node.name, from: source, to: target } },
  );
}

/** Throws {@link unsupportedUpgrade} for this context. */
export function refuse(node: NodeProto, context: ConvertContext, reason: string): never {
  throw unsupportedUpgrade(node, context.source, context.target, reason);
}

/** The base for names of tensors a converter adds for a node. */
export function baseName(node: NodeProto): string {
  return node.name || node.output[0] || node.opType;
}

/** Element type name for notes and messages. */
export function typeName(dataType: number | undefined): string {
  return dataType === undefined ? 'unknown' : dtypeName(dataType);
}
