/**
 * Folding an image description into a model (the `fold-image-preprocess` pass, given the
 * description's numbers): what `kiln archive` writes by default for the image classifier, and
 * what a server does at load for a float32 model archived without it. Kept apart from
 * image-fold.ts because it decodes ONNX: a server loading an archive folded already never
 * imports it.
 */
import { KilnError } from '../core/errors.js';
import { canFoldPreprocess, fixedOutputSize, type ImagePreprocess } from '../image/index.js';
import { DataType } from '../onnx/dtype.js';
import type { ModelProto } from '../onnx/gen/onnx_pb.js';
import { valueTypeOf, type ValueType } from '../onnx/graph.js';
import { encodeModel, readModel } from '../onnx/model-io.js';
import { foldImagePreprocess, type FoldImagePreprocessOptions } from '../onnx/passes/fold-image-preprocess.js';
import { resolveHandlerImage } from './image-config.js';

/** The pass options for a description (the pass takes plain numbers: onnx may not import image). */
export function foldOptions(preprocess: ImagePreprocess): FoldImagePreprocessOptions {
  const { layout, channelOrder, scale, mean, std } = preprocess;
  return { layout, channelOrder, scale, mean, std };
}

function notFoldable(message: string): KilnError {
  return new KilnError('KILN_ONNX_FOLD_UNSUPPORTED', `cannot fold the image preprocessing into the model: ${message}`);
}

/**
 * The model with `preprocess` folded in front of its first input.
 * @throws KilnError `KILN_ONNX_FOLD_UNSUPPORTED` when the description pads (pad, height,
 *   multiple-of) or its output size is not the input's, or the input cannot take it.
 */
export function foldForDescription(model: ModelProto, preprocess: ImagePreprocess): ModelProto {
  if (!canFoldPreprocess(preprocess)) throw notFoldable(`resize mode ${preprocess.resize.mode} pads or varies in size; only stretch and shorter-side fold`);
  const size = fixedOutputSize(preprocess.resize)!;
  const shape = firstInput(model)?.shape ?? [];
  const [height, width] = preprocess.layout === 'nchw' ? [shape[2], shape[3]] : [shape[1], shape[2]];
  if (height !== size[0] || width !== size[1]) {
    throw notFoldable(`the description gives ${size[0]}×${size[1]} images, the model's input is ${height ?? '?'}×${width ?? '?'}`);
  }
  return foldImagePreprocess(model, foldOptions(preprocess)).model;
}

/** The model's first input that is not an initializer (the image input). */
export function firstInput(model: ModelProto): ValueType | undefined {
  const graph = model.graph!;
  const initializers = new Set(graph.initializer.map((tensor) => tensor.name));
  const input = graph.input.find((info) => !initializers.has(info.name));
  return input ? valueTypeOf(input) : undefined;
}

/** A model folded for serving: its bytes, the description folded in, and its input's name. */
export interface FoldedAtLoad {
  readonly bytes: Uint8Array;
  readonly preprocess: ImagePreprocess;
  readonly input: string;
}

/**
 * The model at `modelPath` with `handler.image` (`image`) folded in, encoded; undefined when the
 * file does not decode (onnxruntime names the fault when it loads it) or its image input is not
 * float32 (nothing to fold).
 * @throws KilnError `KILN_ONNX_FOLD_UNSUPPORTED` or `KILN_ONNX_TOO_LARGE` when it cannot be
 *   folded; the description's own errors when `image` does not resolve.
 */
export function foldAtLoad(handler: string, modelPath: string, image: unknown): FoldedAtLoad | undefined {
  let model: ModelProto;
  try {
    model = readModel(modelPath).model;
  } catch {
    return undefined;
  }
  const input = firstInput(model);
  if (input?.dataType !== DataType.FLOAT) return undefined;
  const preprocess = resolveHandlerImage(handler, image, input.shape ?? []);
  return { bytes: encodeModel(foldForDescription(model, preprocess)), preprocess, input: input.name };
}
