import type { ModelProto } from '../gen/onnx_pb.js';

/**
 * What a graph pass returns: a new model (the input is never mutated; unchanged parts are
 * shared), how many rewrites it made (0 means `model` is the input itself), and optional
 * one-line notes for the user (what was converted, what was skipped and why).
 */
export interface PassResult {
  readonly model: ModelProto;
  readonly changes: number;
  readonly notes?: readonly string[];
}

/** A named graph pass, as {@link runPasses} runs them. */
export interface Pass {
  /** Kebab-case name shown in reports (`fold-batchnorm`). */
  readonly name: string;
  run(model: ModelProto): PassResult;
}

/** The result for a pass that found nothing to do. */
export function unchanged(model: ModelProto, notes?: readonly string[]): PassResult {
  return notes && notes.length > 0 ? { model, changes: 0, notes } : { model, changes: 0 };
}
