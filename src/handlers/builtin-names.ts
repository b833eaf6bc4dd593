/**
 * The built-in handlers' names, without their code. The server's main thread only needs to know
 * whether a manifest names a built-in (to choose a thread or a process for it); importing the
 * handlers themselves would load sharp, onnxruntime and the image module there for nothing.
 */
export const BUILTIN_HANDLER_NAMES: readonly string[] = Object.freeze(['image_classifier', 'ocr', 'tensor']);

/** True when `name` is a built-in handler rather than a file in the archive. */
export function isBuiltinHandler(name: string): boolean {
  return BUILTIN_HANDLER_NAMES.includes(name);
}
