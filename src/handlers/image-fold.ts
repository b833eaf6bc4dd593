/**
 * Image models with their preprocessing folded in: the built-in image handlers feed uint8 NHWC
 * pixels and let onnxruntime do the cast, channel reorder, scale, mean/std and transpose as
 * graph nodes (see the `fold-image-preprocess` pass), instead of a JavaScript normalize loop
 * writing a float tensor four times the size.
 *
 * At load: a float32 model whose description {@link canFoldPreprocess} and whose input size is
 * the description's is folded in memory; a model that already takes uint8 `[N, H, W, C]`
 * (folded by `kiln archive --fold-preprocess`) is fed pixels as it is; anything else (a padding
 * resize mode, a dynamic input size, `foldPreprocess: false`) is fed the float tensor as before.
 */
import { KilnError, isKilnError, type ErrorCode } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { canFoldPreprocess, channelCount, fixedOutputSize, type ImagePreprocess } from '../image/index.js';
import { DataType } from '../onnx/dtype.js';
import type { ModelProto } from '../onnx/gen/onnx_pb.js';
import { valueTypeOf } from '../onnx/graph.js';
import { encodeModel, readModel } from '../onnx/model-io.js';
import { foldImagePreprocess, type FoldImagePreprocessOptions } from '../onnx/passes/fold-image-preprocess.js';
import { Engine, type EngineOptions } from '../runtime/engine.js';
import { resolveHandlerImage } from './image-config.js';

/** What an image handler runs: the engine, the description, and what its first input takes. */
export interface ImageModel {
  readonly engine: Engine;
  readonly preprocess: ImagePreprocess;
  /** `pixels`: uint8 `[n, H, W, C]` (folded); `float`: the description's float32 tensor. */
  readonly feed: 'pixels' | 'float';
}

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

function firstInput(model: ModelProto): ReturnType<typeof valueTypeOf> {
  const graph = model.graph!;
  const initializers = new Set(graph.initializer.map((tensor) => tensor.name));
  const input = graph.input.find((info) => !initializers.has(info.name));
  return input ? valueTypeOf(input) : undefined;
}

// A folded model onnxruntime refuses falls back too: the original then loads, or names its own fault.
const FALL_BACK: readonly ErrorCode[] = ['KILN_ONNX_FOLD_UNSUPPORTED', 'KILN_ONNX_TOO_LARGE', 'KILN_RUNTIME_SESSION_FAILED'];

/** Options for {@link loadImageModel}. */
export interface LoadImageModelOptions {
  /** Fold the preprocessing into a float32 model when it can be. @defaultValue true */
  readonly fold?: boolean;
  readonly logger: Logger;
  readonly engine?: EngineOptions;
}

/**
 * Loads an image model and resolves `handler.image` against it (see the module comment).
 * @throws KilnError `KILN_HANDLER_LOAD_FAILED` when the description does not resolve or does not
 *   fit a model that takes pixels; the engine's errors when the model does not load.
 */
export async function loadImageModel(handler: string, modelPath: string, image: unknown, options: LoadImageModelOptions): Promise<ImageModel> {
  const { logger } = options;
  const engineOptions: EngineOptions = { ...options.engine, logger };
  if (options.fold ?? true) {
    let model: ModelProto | undefined;
    try {
      model = readModel(modelPath).model;
    } catch {
      // onnxruntime names what is wrong with the file when it loads it below.
    }
    const input = model ? firstInput(model) : undefined;
    if (model && input?.dataType === DataType.FLOAT) {
      const preprocess = resolveHandlerImage(handler, image, input.shape ?? []);
      try {
        const engine = await Engine.load(encodeModel(foldForDescription(model, preprocess)), engineOptions);
        logger.info({ input: input.name, feed: 'pixels' }, `${handler}: image preprocessing folded into the model (uint8 NHWC input)`);
        return { engine, preprocess, feed: 'pixels' };
      } catch (error) {
        if (!FALL_BACK.some((code) => isKilnError(error, code))) throw error;
        logger.info({ reason: (error as Error).message, feed: 'float' }, `${handler}: image preprocessing not folded`);
      }
    }
  }
  const engine = await Engine.load(modelPath, engineOptions);
  try {
    const input = engine.inputs[0];
    if (input?.type !== 'uint8') {
      const preprocess = resolveHandlerImage(handler, image, input?.shape ?? []);
      logger.debug({ feed: 'float' }, `${handler}: feeding float32 tensors`);
      return { engine, preprocess, feed: 'float' };
    }
    const preprocess = resolveHandlerImage(handler, image, input.shape, { pixels: true });
    const size = fixedOutputSize(preprocess.resize);
    const [, height, width, channels] = input.shape;
    if (!canFoldPreprocess(preprocess) || input.shape.length !== 4 || height !== size?.[0] || width !== size?.[1] || channels !== channelCount(preprocess)) {
      throw new KilnError(
        'KILN_HANDLER_LOAD_FAILED',
        `${handler}: the model takes uint8 [${input.shape.map((dim) => dim ?? '?').join(', ')}] pixels (preprocessing folded in), which handler.image (${preprocess.resize.mode}, ${channelCount(preprocess)} channels) does not give; give the description it was folded with`,
      );
    }
    logger.info({ input: input.name, feed: 'pixels' }, `${handler}: the model takes uint8 NHWC pixels (folded in the archive)`);
    return { engine, preprocess, feed: 'pixels' };
  } catch (error) {
    await engine.release();
    throw error;
  }
}
