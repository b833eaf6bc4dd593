/**
 * Image models with their preprocessing folded in: the built-in image handlers feed uint8 NHWC
 * pixels and let onnxruntime do the cast, channel reorder, scale, mean/std and transpose as
 * graph nodes (see the `fold-image-preprocess` pass), instead of a JavaScript normalize loop
 * writing a float tensor four times the size.
 *
 * At load: a float32 model whose description {@link canFoldPreprocess} and whose input size is
 * the description's is folded in memory; a model that already takes uint8 `[N, H, W, C]`
 * (folded by `kiln archive`, which does it by default) is fed pixels as it is; anything else (a
 * padding resize mode, a dynamic input size, `foldPreprocess: false`) is fed the float tensor as
 * before. Whether a model was folded by kiln is read from its metadata without decoding it, so
 * loading a folded archive costs one onnxruntime session and no ONNX decode.
 */
import { KilnError, isKilnError, type ErrorCode } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { canFoldPreprocess, channelCount, fixedOutputSize, type ImagePreprocess } from '../image/index.js';
import { FOLDED_PREPROCESS_KEY } from '../onnx/metadata-keys.js';
import { peekFileMetadataProps } from '../onnx/peek.js';
import { Engine, type EngineOptions } from '../runtime/engine.js';
import { resolveHandlerImage } from './image-config.js';

/** An image model ready to serve, and how its requests are fed. */
export interface ImageModel {
  readonly engine: Engine;
  readonly preprocess: ImagePreprocess;
  /** `pixels`: uint8 `[n, H, W, C]` (folded); `float`: the description's float32 tensor. */
  readonly feed: 'pixels' | 'float';
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
  if ((options.fold ?? true) && !foldedByKiln(modelPath)) {
    // Decoding and folding load the ONNX schema: only a model that needs it pays for it.
    const { foldAtLoad } = await import('./fold-description.js');
    try {
      const folded = foldAtLoad(handler, modelPath, image);
      if (folded) {
        const engine = await Engine.load(folded.bytes, engineOptions);
        logger.info({ input: folded.input, feed: 'pixels' }, `${handler}: image preprocessing folded into the model (uint8 NHWC input)`);
        return { engine, preprocess: folded.preprocess, feed: 'pixels' };
      }
    } catch (error) {
      if (!FALL_BACK.some((code) => isKilnError(error, code))) throw error;
      logger.info({ reason: (error as Error).message, feed: 'float' }, `${handler}: image preprocessing not folded`);
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

/** True when the file carries kiln's folded-preprocessing metadata (read without decoding the model). */
function foldedByKiln(modelPath: string): boolean {
  try {
    return peekFileMetadataProps(modelPath)?.has(FOLDED_PREPROCESS_KEY) ?? false;
  } catch {
    return false;
  }
}
