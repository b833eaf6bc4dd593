/**
 * `handler.image` in model-config.yaml: the image module's description, in any of its forms —
 * a preset name (`image: imagenet`), the compact string (`image: 'resize=shorter-side:256:224,…'`)
 * or a mapping (`image: {preset: ppocr-cls}`, `image: {resize: {mode: stretch, width: 224, height: 224}, mean: …}`).
 *
 * The form kiln read before the image module (`size`, `fit: crop|stretch|pad`, `resize: 256`,
 * `mean`/`std` by source colour, `channelOrder: RGB|BGR`) is still read, with its own old
 * defaults (the model's input size, `fit: crop`, ImageNet mean/std, cubic resize), so archives
 * built for it serve the tensors they did (up to torchvision's rounding of the crop geometry).
 */
import { z } from 'zod';
import { KilnError, describeError } from '../core/errors.js';
import { describeIssue } from '../core/schema-errors.js';
import { parseImagePreprocess, resolveImagePreprocess, type ImagePreprocess } from '../image/index.js';

const LegacySchema = z.strictObject({
  size: z.tuple([z.number().int().positive(), z.number().int().positive()]).optional(),
  resize: z.number().int().positive().optional(),
  fit: z.enum(['crop', 'stretch', 'pad']).default('crop'),
  mean: z.tuple([z.number(), z.number(), z.number()]).default([0.485, 0.456, 0.406]),
  std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]).default([0.229, 0.224, 0.225]),
  channelOrder: z.enum(['RGB', 'BGR', 'rgb', 'bgr']).default('RGB'),
  layout: z.enum(['NCHW', 'NHWC', 'nchw', 'nhwc']).default('NCHW'),
});

/** True for the pre-image-module mapping: no `preset`, and `resize` absent or a number. */
function isLegacy(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const record = value as Record<string, unknown>;
  return record['preset'] === undefined && (record['resize'] === undefined || typeof record['resize'] === 'number');
}

function loadFailed(handler: string, reason: string): KilnError {
  return new KilnError('KILN_HANDLER_LOAD_FAILED', `${handler}: handler.image: ${reason}`);
}

/** The model input's spatial size `[height, width]` when both are fixed, for the old form's default. */
export function inputSize(shape: readonly (number | string | undefined)[], layout: 'nchw' | 'nhwc'): [number, number] | undefined {
  const [h, w] = layout === 'nchw' ? [shape[2], shape[3]] : [shape[1], shape[2]];
  return typeof h === 'number' && h > 0 && typeof w === 'number' && w > 0 ? [h, w] : undefined;
}

function fromLegacy(handler: string, value: unknown, modelShape: readonly (number | string | undefined)[], pixels: boolean): ImagePreprocess {
  const parsed = LegacySchema.safeParse(value);
  if (!parsed.success) throw loadFailed(handler, describeIssue(parsed.error, { root: 'the description' }));
  const legacy = parsed.data;
  const layout = legacy.layout.toLowerCase() as 'nchw' | 'nhwc';
  // A model with the preprocessing folded in takes NHWC pixels, whatever layout it had before.
  const size = legacy.size ?? inputSize(modelShape, pixels ? 'nhwc' : layout);
  if (!size) throw loadFailed(handler, "the model's input has a dynamic size; set handler.image.size: [height, width], or a description with a resize mode (e.g. image: imagenet)");
  const [height, width] = size;
  let resize;
  if (legacy.fit === 'stretch') resize = { mode: 'stretch', width, height };
  else if (legacy.fit === 'pad') resize = { mode: 'height', height, maxWidth: width };
  else {
    if (height !== width) throw loadFailed(handler, `fit: crop takes a square size, not ${height}×${width}; use fit: stretch or a resize mode`);
    resize = { mode: 'shorter-side', size: legacy.resize ?? height, crop: height };
  }
  const bgr = legacy.channelOrder.toLowerCase() === 'bgr';
  // The old form indexed mean/std by source colour (R, G, B); the description indexes them by
  // tensor channel, so BGR reverses them.
  const byTensor = (values: readonly number[]): number[] => (bgr ? [...values].reverse() : [...values]);
  try {
    // The old form resized with a cubic kernel; kept, so its archives serve the tensors they did.
    return resolveImagePreprocess({ resize, kernel: 'cubic', mean: byTensor(legacy.mean), std: byTensor(legacy.std), channelOrder: bgr ? 'bgr' : 'rgb', layout });
  } catch (error) {
    throw loadFailed(handler, describeError(error));
  }
}

/** Options for {@link resolveHandlerImage}. */
export interface ResolveHandlerImageOptions {
  /**
   * The model takes uint8 `[N, H, W, C]` pixels (its preprocessing folded in), so `modelShape`
   * is NHWC whatever layout the description names. @defaultValue false
   */
  readonly pixels?: boolean;
}

/**
 * Resolves `handler.image` for a built-in image handler (see the module comment for the forms).
 * `modelShape` is the model's first input shape; only the old form without `size` reads it.
 * @throws KilnError `KILN_HANDLER_LOAD_FAILED` naming what is wrong.
 */
export function resolveHandlerImage(handler: string, value: unknown, modelShape: readonly (number | string | undefined)[], options: ResolveHandlerImageOptions = {}): ImagePreprocess {
  if (value === undefined || isLegacy(value)) return fromLegacy(handler, value ?? {}, modelShape, options.pixels ?? false);
  try {
    return typeof value === 'string' ? parseImagePreprocess(value) : resolveImagePreprocess(value);
  } catch (error) {
    throw loadFailed(handler, error instanceof KilnError ? error.message.replace(/^image preprocessing: /, '') : describeError(error));
  }
}
