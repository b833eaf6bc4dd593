/**
 * A served model's tensors as its ONNX graph declares them, for protocols that describe and
 * check tensors (the Open Inference Protocol's metadata and inference).
 */
import type { OpenedArchive } from '../archive/read.js';
import { readModel } from '../onnx/model-io.js';
import { summarizeModel, type SignatureEntry } from '../onnx/summary.js';

/** Graph inputs (initializers left out) and outputs, in graph order. */
export interface ModelSignature {
  readonly inputs: readonly SignatureEntry[];
  readonly outputs: readonly SignatureEntry[];
}

/**
 * Reads the archive's ONNX file (tensor data in side files is not loaded) and returns its
 * signature; an archive without a model file has none (empty lists).
 */
export function readModelSignature(archive: OpenedArchive): ModelSignature {
  if (!archive.modelPath) return { inputs: [], outputs: [] };
  const summary = summarizeModel(readModel(archive.modelPath, { loadExternalData: false }).model);
  return { inputs: summary.inputs, outputs: summary.outputs };
}
