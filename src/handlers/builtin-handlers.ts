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

/** The built-in handlers' modules, for a spare handler thread to load before it is needed. */
export const BUILTIN_HANDLER_MODULES: readonly URL[] = Object.freeze(
  ['image-classifier', 'ocr', 'tensor'].map((name) => siblingModule(`builtins/${name}`, import.meta.url)),
);
