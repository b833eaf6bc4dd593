import { siblingModule } from '../core/ts-thread.js';
import type { Handler } from './types.js';

export { BUILTIN_HANDLER_NAMES, isBuiltinHandler } from './builtin-names.js';

/**
 * Built-in handlers by the name a manifest uses (TorchServe's style of names). Each is imported
 * when first asked for, so a worker serving an image classifier never loads the OCR pipeline,
 * and nothing here loads onnxruntime or sharp until a handler is made.
 */
export const BUILTIN_HANDLERS: ReadonlyMap<string, () => Promise<Handler>> = new Map<string, () => Promise<Handler>>([
  ['image_classifier', async () => (await import('./builtins/image-classifier.js')).imageClassifier()],
  ['ocr', async () => (await import('./builtins/ocr.js')).ocrHandler()],
  ['tensor', async () => (await import('./builtins/tensor.js')).tensorHandler()],
]);

/**
 * The built-in handlers' modules, for a spare handler thread to load before it is needed, one
 * at a time in this order: the image classifier first (the common model, and the one whose
 * start-up is measured), then the tensor handler, then what the image classifier loads to fold
 * the preprocessing of a model archived without it, and the OCR pipeline, the heaviest, last.
 */
export const BUILTIN_HANDLER_MODULES: readonly URL[] = Object.freeze([
  siblingModule('builtins/image-classifier', import.meta.url),
  siblingModule('builtins/tensor', import.meta.url),
  siblingModule('fold-description', import.meta.url),
  siblingModule('builtins/ocr', import.meta.url),
]);
