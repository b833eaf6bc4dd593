import { imageClassifier } from './builtins/image-classifier.js';
import { ocrHandler } from './builtins/ocr.js';
import { tensorHandler } from './builtins/tensor.js';
import type { Handler } from './types.js';

/** Built-in handlers by the name a manifest uses (TorchServe's style of names). */
export const BUILTIN_HANDLERS: ReadonlyMap<string, () => Handler> = new Map<string, () => Handler>([
  ['image_classifier', imageClassifier],
  ['ocr', ocrHandler],
  ['tensor', tensorHandler],
]);

/** True when `name` is a built-in handler rather than a file in the archive. */
export function isBuiltinHandler(name: string): boolean {
  return BUILTIN_HANDLERS.has(name);
}
