/**
 * How an image becomes a model input: one typed description, one schema and one set of defaults,
 * shared by calibration (`kiln quantize --preprocess`), every built-in image handler
 * (model-config.yaml `handler.image`) and the OCR pipeline, so the tensors a model is calibrated on
 * are the tensors it is served.
 *
 * The value of tensor channel c is `(pixel · scale − mean[c]) / std[c]`: `mean` and `std` are
 * indexed by TENSOR channel, after {@link ImagePreprocess.channelOrder} has put the colours in
 * the model's order (so with `bgr`, `mean[0]` is the blue channel's mean).
 */
import { z } from 'zod';
import { KilnError } from '../core/errors.js';
import { describeIssue } from '../core/schema-errors.js';

/**
 * The resize modes (each image is first decoded, turned upright by its EXIF orientation and
 * flattened on white):
 * - `stretch`: to exactly width × height, aspect ignored.
 * - `shorter-side`: the shorter side to `size`, the longer one truncated to keep the aspect, then a
 *   centre crop of crop × crop (torchvision's Resize(size) + CenterCrop(crop)).
 * - `pad`: fitted inside width × height keeping the aspect (never cropped), centred, the rest
 *   `padValue` (a letterbox).
 * - `height`: to `height` rows keeping the aspect, the width rounded up and capped at `maxWidth`
 *   (a longer image is squeezed, never cut), then padded on the right with `padValue`: to
 *   `maxWidth`, or, when `minWidth` or `multiple` is given, only to the width rounded up to
 *   `multiple` and at least `minWidth` (PP-OCR recognition and orientation).
 * - `multiple-of`: the longer side limited to `maxSide` (never enlarged), each side then rounded
 *   (half to even) to a multiple of `multiple`, at least one multiple (PP-OCR detection: 960, 32).
 */
export type ImageResize =
  | { readonly mode: 'stretch'; readonly width: number; readonly height: number }
  | { readonly mode: 'shorter-side'; readonly size: number; readonly crop: number }
  | { readonly mode: 'pad'; readonly width: number; readonly height: number }
  | { readonly mode: 'height'; readonly height: number; readonly maxWidth: number; readonly minWidth?: number; readonly multiple?: number }
  | { readonly mode: 'multiple-of'; readonly maxSide: number; readonly multiple: number };

/** The colours of the tensor, in channel order; `gray` gives one channel (ITU-R BT.601 luma, libvips' b-w). */
export type ChannelOrder = 'rgb' | 'bgr' | 'gray';

/**
 * The resampling kernel of the resize, as libvips applies it (antialiased when shrinking):
 * `linear` (bilinear, the default: torchvision, OpenCV), `cubic` (Catmull-Rom) or `lanczos3`.
 * It is part of the description because a model is best served the kernel it was trained and
 * calibrated with: the PP-OCR recognizer reads 1.3 pp more characters with lanczos3 than with
 * bilinear on kiln's evaluation lines.
 */
export type ResizeKernel = 'linear' | 'cubic' | 'lanczos3';

/** A resolved preprocessing description: every field set, frozen. */
export interface ImagePreprocess {
  readonly resize: ImageResize;
  readonly kernel: ResizeKernel;
  /** Multiplies the 8-bit pixel values first. */
  readonly scale: number;
  /** Subtracted per TENSOR channel after scaling; one value per channel (1 for gray, else 3). */
  readonly mean: readonly number[];
  /** Divides per TENSOR channel after the mean; one value per channel. */
  readonly std: readonly number[];
  readonly channelOrder: ChannelOrder;
  readonly layout: 'nchw' | 'nhwc';
  /** Tensor value (already normalized) of the padding in `pad` and `height` modes. */
  readonly padValue: number;
}

/**
 * The one set of defaults: `kernel` linear (bilinear, antialiased when shrinking, as torchvision's
 * Resize on PIL images; OpenCV's `cv2.resize` default is bilinear too), `scale` 1/255 (pixels to [0, 1]), `mean` 0 and
 * `std` 1 (no further normalization), `channelOrder` rgb, `layout` nchw, `padValue` 0. Alpha is
 * always flattened on white ({@link ALPHA_BACKGROUND}).
 */
export const IMAGE_PREPROCESS_DEFAULTS = Object.freeze({
  kernel: 'linear' as ResizeKernel,
  scale: 1 / 255,
  mean: 0,
  std: 1,
  channelOrder: 'rgb' as const,
  layout: 'nchw' as const,
  padValue: 0,
});

/**
 * Transparent pixels are composed over white: text on a transparent PNG is dark on nothing, and
 * dropping alpha would leave it dark on black; photos rarely have alpha at all.
 */
export const ALPHA_BACKGROUND = '#ffffff';

/** Larger images are refused before their pixels are decoded (a decompression-bomb guard). */
export const MAX_INPUT_PIXELS = 100_000_000;

const IMAGENET_MEAN = Object.freeze([0.485, 0.456, 0.406]);
const IMAGENET_STD = Object.freeze([0.229, 0.224, 0.225]);

/**
 * Named descriptions:
 * - `imagenet`: torchvision's classification transform: Resize(256) + CenterCrop(224), bilinear,
 *   RGB, scale 1/255, ImageNet mean/std, NCHW.
 * The three PP-OCR ones resize with lanczos3, as kiln's OCR handler always has (its accuracy
 * figures were measured so).
 * - `ppocr-det`: PP-OCR detection as kiln's OCR handler feeds it: longer side at most 960,
 *   sides rounded to multiples of 32, BGR, ImageNet mean/std (applied to B, G, R in that order,
 *   as PaddleOCR does on OpenCV images).
 * - `ppocr-rec`: PP-OCR recognition: 48 rows, width by aspect, at least 320 (padded with 0, mid
 *   grey), at most 3200, BGR, mean 0.5, std 0.5 (pixels to [−1, 1]).
 * - `ppocr-cls`: PP-OCR orientation: 48 × 192, width by aspect, padded with 0, BGR, mean/std 0.5.
 */
export const IMAGE_PRESETS = Object.freeze({
  imagenet: resolved({ resize: { mode: 'shorter-side', size: 256, crop: 224 }, kernel: 'linear', scale: 1 / 255, mean: IMAGENET_MEAN, std: IMAGENET_STD, channelOrder: 'rgb', layout: 'nchw', padValue: 0 }),
  'ppocr-det': resolved({ resize: { mode: 'multiple-of', maxSide: 960, multiple: 32 }, kernel: 'lanczos3', scale: 1 / 255, mean: IMAGENET_MEAN, std: IMAGENET_STD, channelOrder: 'bgr', layout: 'nchw', padValue: 0 }),
  'ppocr-rec': resolved({ resize: { mode: 'height', height: 48, minWidth: 320, maxWidth: 3200 }, kernel: 'lanczos3', scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], channelOrder: 'bgr', layout: 'nchw', padValue: 0 }),
  'ppocr-cls': resolved({ resize: { mode: 'height', height: 48, maxWidth: 192 }, kernel: 'lanczos3', scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], channelOrder: 'bgr', layout: 'nchw', padValue: 0 }),
});

/** The name of a preset in {@link IMAGE_PRESETS}. */
export type ImagePresetName = keyof typeof IMAGE_PRESETS;

function resolved(value: ImagePreprocess): ImagePreprocess {
  return Object.freeze({ ...value, resize: Object.freeze({ ...value.resize }), mean: Object.freeze([...value.mean]), std: Object.freeze([...value.std]) });
}

/** True when `name` is a preset of {@link IMAGE_PRESETS}. */
export function isImagePreset(name: string): name is ImagePresetName {
  return Object.hasOwn(IMAGE_PRESETS, name);
}

const side = z.number().int().positive();
const finite = z.number(); // zod 4 refuses ±Infinity and NaN
const lowerCase = (value: unknown): unknown => (typeof value === 'string' ? value.toLowerCase() : value);

/** The resize union as a schema (model-config.yaml writes it as a mapping). */
export const ImageResizeSchema = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('stretch'), width: side, height: side }),
  z.strictObject({ mode: z.literal('shorter-side'), size: side, crop: side }).refine((resize) => resize.crop <= resize.size, {
    error: 'the crop must not be larger than the resized shorter side',
    path: ['crop'],
  }),
  z.strictObject({ mode: z.literal('pad'), width: side, height: side }),
  z
    .strictObject({ mode: z.literal('height'), height: side, maxWidth: side, minWidth: side.optional(), multiple: side.optional() })
    .refine((resize) => resize.minWidth === undefined || resize.minWidth <= resize.maxWidth, { error: 'must not exceed maxWidth', path: ['minWidth'] }),
  z.strictObject({ mode: z.literal('multiple-of'), maxSide: side, multiple: side }),
]);

const channelValues = z.union([finite, z.array(finite).min(1).max(3)]);

/**
 * User input for a description (model-config.yaml `handler.image`, or {@link resolveImagePreprocess}):
 * a `preset` to start from and/or a `resize`, plus any field to override. `mean` and `std` take
 * one number (every channel) or one per tensor channel; `channelOrder` and `layout` any case.
 */
export const ImagePreprocessOptionsSchema = z
  .strictObject({
    preset: z.string().optional(),
    resize: ImageResizeSchema.optional(),
    kernel: z.preprocess(lowerCase, z.enum(['linear', 'cubic', 'lanczos3'])).optional(),
    scale: finite.refine((value) => value !== 0, { error: 'must not be 0' }).optional(),
    mean: channelValues.optional(),
    std: channelValues.refine((std) => (Array.isArray(std) ? std : [std]).every((value) => value !== 0), { error: 'must not hold 0' }).optional(),
    channelOrder: z.preprocess(lowerCase, z.enum(['rgb', 'bgr', 'gray'])).optional(),
    layout: z.preprocess(lowerCase, z.enum(['nchw', 'nhwc'])).optional(),
    padValue: finite.optional(),
  })
  .refine((options) => options.preset !== undefined || options.resize !== undefined, { error: 'needs a resize (or a preset)', path: ['resize'] })
  .refine((options) => options.preset === undefined || isImagePreset(options.preset), {
    error: `unknown preset (presets: ${Object.keys(IMAGE_PRESETS).join(', ')})`,
    path: ['preset'],
  });

/** User input for {@link resolveImagePreprocess}. */
export type ImagePreprocessOptions = z.input<typeof ImagePreprocessOptionsSchema>;

/** The error every malformed description raises, naming what is wrong. */
export function invalidPreprocess(message: string, details: Record<string, unknown> = {}): KilnError {
  return new KilnError('KILN_IMAGE_PREPROCESS_INVALID', `image preprocessing: ${message}`, { details });
}

function perChannel(key: 'mean' | 'std', value: number | readonly number[], channels: number): readonly number[] {
  if (typeof value === 'number') return Array.from({ length: channels }, () => value);
  if (value.length === channels) return value;
  if (value.length === 1) return Array.from({ length: channels }, () => value[0]!);
  // A 3-value preset mean on a gray model cannot be guessed.
  throw invalidPreprocess(`${key} takes 1${channels === 3 ? ' or 3 numbers' : ' number'} for ${channels === 1 ? 'gray' : 'rgb/bgr'}, not ${value.length}`, { path: [key] });
}

/**
 * Checks a description and fills in the defaults (those of the preset when one is named, else
 * {@link IMAGE_PREPROCESS_DEFAULTS}). The value returned is frozen.
 * @throws KilnError `KILN_IMAGE_PREPROCESS_INVALID` naming the field.
 * @example resolveImagePreprocess({ preset: 'imagenet', layout: 'NHWC' })
 * @example resolveImagePreprocess({ resize: { mode: 'stretch', width: 192, height: 48 }, mean: 0.5, std: 0.5, channelOrder: 'bgr' })
 */
export function resolveImagePreprocess(options: unknown): ImagePreprocess {
  const parsed = ImagePreprocessOptionsSchema.safeParse(options);
  if (!parsed.success) {
    throw invalidPreprocess(describeIssue(parsed.error, { root: 'the description' }), { path: parsed.error.issues[0]!.path.map(String) });
  }
  const { preset, ...given } = parsed.data;
  const base = preset === undefined ? undefined : IMAGE_PRESETS[preset as ImagePresetName];
  const channelOrder = given.channelOrder ?? base?.channelOrder ?? IMAGE_PREPROCESS_DEFAULTS.channelOrder;
  const channels = channelOrder === 'gray' ? 1 : 3;
  return resolved({
    resize: (given.resize ?? base!.resize) as ImageResize,
    kernel: given.kernel ?? base?.kernel ?? IMAGE_PREPROCESS_DEFAULTS.kernel,
    scale: given.scale ?? base?.scale ?? IMAGE_PREPROCESS_DEFAULTS.scale,
    mean: perChannel('mean', given.mean ?? base?.mean ?? IMAGE_PREPROCESS_DEFAULTS.mean, channels),
    std: perChannel('std', given.std ?? base?.std ?? IMAGE_PREPROCESS_DEFAULTS.std, channels),
    channelOrder,
    layout: given.layout ?? base?.layout ?? IMAGE_PREPROCESS_DEFAULTS.layout,
    padValue: given.padValue ?? base?.padValue ?? IMAGE_PREPROCESS_DEFAULTS.padValue,
  });
}

/** The number of tensor channels a description gives. */
export function channelCount(preprocess: ImagePreprocess): 1 | 3 {
  return preprocess.channelOrder === 'gray' ? 1 : 3;
}
