/**
 * Images to model inputs: one description (a union on the resize mode), one schema with its
 * string form and presets, one implementation on sharp. Used by calibration, every built-in
 * image handler and the OCR pipeline.
 */
export {
  ALPHA_BACKGROUND,
  IMAGE_PREPROCESS_DEFAULTS,
  IMAGE_PRESETS,
  ImagePreprocessOptionsSchema,
  ImageResizeSchema,
  MAX_INPUT_PIXELS,
  channelCount,
  isImagePreset,
  resolveImagePreprocess,
  type ChannelOrder,
  type ImagePreprocess,
  type ImagePreprocessOptions,
  type ImagePresetName,
  type ImageResize,
  type ResizeKernel,
} from './description.js';
export { parseImagePreprocess } from './spec-string.js';
export { fixedOutputSize, planResize, roundHalfEven, type ResizePlan } from './geometry.js';
export {
  canFoldPreprocess,
  decodeRgb,
  prepareImage,
  prepareImagePixels,
  type ImageInput,
  type ImagePixels,
  type ImageTensor,
  type RawPixels,
  type RgbPixels,
} from './prepare.js';
