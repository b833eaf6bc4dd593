/**
 * How a calibration image becomes a model input: a resize mode (a typed union) and the
 * normalization `(pixel · scale − mean[c]) / std[c]`, per tensor channel c. The same
 * description can be written as a compact string for the command line; see
 * {@link parseImagePreprocess}. Geometry is planned here (pure); pixels are handled in images.ts.
 */
import { z } from 'zod';
import { KilnError } from '../../core/errors.js';
import { roundHalfEven } from '../math.js';
import { describeIssue } from '../../core/schema-errors.js';

/**
 * The resize modes:
 * - `stretch`: to exactly width × height, aspect ignored.
 * - `shorter-side`: shorter side to `size` (the longer one truncated to keep the aspect, as
 *   torchvision's Resize), then a centre crop of crop × crop (torchvision's CenterCrop).
 * - `height`: to `height` keeping the aspect, at most `maxWidth` wide, then padded on the right
 *   with `padValue` to `maxWidth` (PP-OCR recognition), or, with `multiple`, only up to the next
 *   multiple of it (for models with a dynamic width).
 * - `multiple-of`: the longer side limited to `maxSide` (never enlarged), each side then rounded to
 *   a multiple of `multiple`, at least one multiple (PP-OCR detection: 960 and 32).
 */
export type ImageResize =
  | { readonly mode: 'stretch'; readonly width: number; readonly height: number }
  | { readonly mode: 'shorter-side'; readonly size: number; readonly crop: number }
  | { readonly mode: 'height'; readonly height: number; readonly maxWidth: number; readonly multiple?: number }
  | { readonly mode: 'multiple-of'; readonly maxSide: number; readonly multiple: number };

/** A resolved preprocessing description (every field set, frozen). */
export interface ImagePreprocess {
  readonly resize: ImageResize;
  /** Multiplies 8-bit pixel values first. */
  readonly scale: number;
  /** Subtracted per tensor channel (after `channelOrder`), after scaling. */
  readonly mean: readonly [number, number, number];
  /** Divides per tensor channel, after the mean. */
  readonly std: readonly [number, number, number];
  readonly channelOrder: 'rgb' | 'bgr';
  readonly layout: 'nchw' | 'nhwc';
  /** Tensor value of the padding in `height` mode (already normalized). */
  readonly padValue: number;
}

/** User input for {@link resolveImagePreprocess}: `resize` plus any fields to override. */
export type ImagePreprocessOptions = { readonly resize: ImageResize } & Partial<Omit<ImagePreprocess, 'resize'>>;

/**
 * Defaults: `scale` 1/255 (pixels to [0, 1]), `mean` 0 and `std` 1 (no normalization),
 * `channelOrder` rgb, `layout` nchw, `padValue` 0.
 */
export const IMAGE_PREPROCESS_DEFAULTS = Object.freeze({
  scale: 1 / 255,
  mean: Object.freeze([0, 0, 0] as const),
  std: Object.freeze([1, 1, 1] as const),
  channelOrder: 'rgb' as const,
  layout: 'nchw' as const,
  padValue: 0,
});

const side = z.number().int().positive();
const finite = z.number(); // zod 4 refuses ±Infinity and NaN
const triple = z.tuple([finite, finite, finite]);

const PreprocessSchema = z.strictObject({
  resize: z.discriminatedUnion('mode', [
    z.strictObject({ mode: z.literal('stretch'), width: side, height: side }),
    z.strictObject({ mode: z.literal('shorter-side'), size: side, crop: side }).refine((resize) => resize.crop <= resize.size, {
      error: 'the crop must not be larger than the resized shorter side',
      path: ['crop'],
    }),
    z.strictObject({ mode: z.literal('height'), height: side, maxWidth: side, multiple: side.optional() }),
    z.strictObject({ mode: z.literal('multiple-of'), maxSide: side, multiple: side }),
  ]),
  scale: finite.refine((value) => value !== 0, { error: 'must not be 0' }).default(IMAGE_PREPROCESS_DEFAULTS.scale),
  mean: triple.default([...IMAGE_PREPROCESS_DEFAULTS.mean]),
  std: triple.refine((std) => std.every((value) => value !== 0), { error: 'must not hold 0' }).default([...IMAGE_PREPROCESS_DEFAULTS.std]),
  channelOrder: z.enum(['rgb', 'bgr']).default(IMAGE_PREPROCESS_DEFAULTS.channelOrder),
  layout: z.enum(['nchw', 'nhwc']).default(IMAGE_PREPROCESS_DEFAULTS.layout),
  padValue: finite.default(IMAGE_PREPROCESS_DEFAULTS.padValue),
});

function invalid(message: string, details: Record<string, unknown> = {}): KilnError {
  return new KilnError('KILN_QUANTIZE_CALIBRATION_INVALID', `image preprocessing: ${message}`, { details });
}

/**
 * Checks a preprocessing description and fills in the defaults.
 * @throws KilnError `KILN_QUANTIZE_CALIBRATION_INVALID` naming the field.
 */
export function resolveImagePreprocess(options: ImagePreprocessOptions): ImagePreprocess {
  const parsed = PreprocessSchema.safeParse(options);
  if (!parsed.success) {
    throw invalid(describeIssue(parsed.error, { root: 'the description' }), { path: parsed.error.issues[0]!.path.map(String) });
  }
  const { resize, mean, std, ...rest } = parsed.data;
  return Object.freeze({
    ...rest,
    resize: Object.freeze(resize),
    mean: Object.freeze(mean) as ImagePreprocess['mean'],
    std: Object.freeze(std) as ImagePreprocess['std'],
  });
}

const RESIZE_SYNTAX = 'stretch:WIDTHxHEIGHT, shorter-side:SIZE:CROP, height:HEIGHT:MAXWIDTH[:MULTIPLE] or multiple-of:MAXSIDE:MULTIPLE';
const KEYS = ['resize', 'scale', 'mean', 'std', 'order', 'layout', 'pad'] as const;

function parseNumber(text: string, key: string): number {
  // A fraction such as 1/255 or 1/127.5 is the usual way to write a scale.
  const parts = text.split('/');
  const values = parts.map((part) => (part.trim() === '' ? NaN : Number(part)));
  if (parts.length > 2 || values.some((value) => !Number.isFinite(value))) throw invalid(`${key}: '${text}' is not a number`);
  return values.length === 2 ? values[0]! / values[1]! : values[0]!;
}

function parseResize(text: string): ImageResize {
  const [mode = '', ...rest] = text.split(':');
  const ints = (count: number, optional = 0): number[] => {
    if (rest.length < count || rest.length > count + optional) throw invalid(`resize '${text}': ${mode} takes ${count}${optional ? `–${count + optional}` : ''} values (${RESIZE_SYNTAX})`);
    return rest.map((part) => {
      if (!/^\d+$/.test(part)) throw invalid(`resize '${text}': '${part}' is not a positive integer`);
      return Number(part);
    });
  };
  switch (mode) {
    case 'stretch': {
      const match = /^(\d+)x(\d+)$/.exec(rest.join(':'));
      if (!match) throw invalid(`resize '${text}': expected stretch:WIDTHxHEIGHT, e.g. stretch:192x48`);
      return { mode, width: Number(match[1]), height: Number(match[2]) };
    }
    case 'shorter-side': {
      const [size, crop] = ints(2);
      return { mode, size: size!, crop: crop! };
    }
    case 'height': {
      const [height, maxWidth, multiple] = ints(2, 1);
      return multiple === undefined ? { mode, height: height!, maxWidth: maxWidth! } : { mode, height: height!, maxWidth: maxWidth!, multiple };
    }
    case 'multiple-of': {
      const [maxSide, multiple] = ints(2);
      return { mode, maxSide: maxSide!, multiple: multiple! };
    }
    default:
      throw invalid(`unknown resize mode '${mode}' (use ${RESIZE_SYNTAX})`);
  }
}

/**
 * Reads a preprocessing description from a compact string: comma-separated `key=value` items;
 * an item without `=` continues the previous key's list (for `mean` and `std`).
 * - `resize=` `stretch:WIDTHxHEIGHT` | `shorter-side:SIZE:CROP` | `height:HEIGHT:MAXWIDTH[:MULTIPLE]`
 *   | `multiple-of:MAXSIDE:MULTIPLE` (required; see {@link ImageResize})
 * - `scale=` a number or fraction (default 1/255)
 * - `mean=` and `std=` one number for all channels or three, in the tensor's channel order
 *   (defaults 0 and 1)
 * - `order=` rgb | bgr, `layout=` nchw | nhwc, `pad=` the padding value (defaults rgb, nchw, 0)
 * @throws KilnError `KILN_QUANTIZE_CALIBRATION_INVALID` naming the item that is wrong.
 * @example parseImagePreprocess('resize=stretch:192x48,mean=0.5,0.5,0.5,std=0.5,0.5,0.5,order=rgb,layout=nchw')
 * @example parseImagePreprocess('resize=shorter-side:256:224,mean=0.485,0.456,0.406,std=0.229,0.224,0.225')
 */
export function parseImagePreprocess(text: string): ImagePreprocess {
  const items = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const raw of text.split(',')) {
    const item = raw.trim();
    const equals = item.indexOf('=');
    if (equals < 0) {
      if (!current || item === '') throw invalid(`'${item}' in '${text}' is not key=value (keys: ${KEYS.join(', ')})`);
      current.push(item);
      continue;
    }
    const key = item.slice(0, equals).trim();
    if (!(KEYS as readonly string[]).includes(key)) throw invalid(`unknown key '${key}' (keys: ${KEYS.join(', ')})`);
    if (items.has(key)) throw invalid(`'${key}' is given twice`);
    current = [item.slice(equals + 1).trim()];
    items.set(key, current);
  }
  const resize = items.get('resize');
  if (!resize) throw invalid(`'${text}' has no resize= (${RESIZE_SYNTAX})`);
  const single = (key: string): string | undefined => {
    const values = items.get(key);
    if (values && values.length !== 1) throw invalid(`${key} takes one value, not ${values.length}`);
    return values?.[0];
  };
  const channels = (key: string): [number, number, number] | undefined => {
    const values = items.get(key)?.map((value) => parseNumber(value, key));
    if (!values) return undefined;
    if (values.length === 1) return [values[0]!, values[0]!, values[0]!];
    if (values.length !== 3) throw invalid(`${key} takes 1 or 3 numbers, not ${values.length}`);
    return values as [number, number, number];
  };
  const scale = single('scale');
  const pad = single('pad');
  const options: Record<string, unknown> = { resize: parseResize(single('resize')!) };
  if (scale !== undefined) options['scale'] = parseNumber(scale, 'scale');
  if (pad !== undefined) options['padValue'] = parseNumber(pad, 'pad');
  if (items.has('mean')) options['mean'] = channels('mean');
  if (items.has('std')) options['std'] = channels('std');
  if (items.has('order')) options['channelOrder'] = single('order')!.toLowerCase();
  if (items.has('layout')) options['layout'] = single('layout')!.toLowerCase();
  return resolveImagePreprocess(options as ImagePreprocessOptions);
}

/** Where an image of width × height goes: the resize target, the window kept and the tensor size. */
export interface ResizePlan {
  readonly resizeWidth: number;
  readonly resizeHeight: number;
  /** The window of the resized image copied into the tensor (a centre crop, or all of it). */
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
  /** The tensor's spatial size; beyond the window it holds `padValue`. */
  readonly outWidth: number;
  readonly outHeight: number;
}

/** Plans the geometry of one image (pure; see {@link ImageResize} for each mode). */
export function planResize(resize: ImageResize, width: number, height: number): ResizePlan {
  const whole = (w: number, h: number, outWidth = w, outHeight = h): ResizePlan => ({
    resizeWidth: w,
    resizeHeight: h,
    left: 0,
    top: 0,
    width: w,
    height: h,
    outWidth,
    outHeight,
  });
  switch (resize.mode) {
    case 'stretch':
      return whole(resize.width, resize.height);
    case 'shorter-side': {
      const { size, crop } = resize;
      const [w, h] = width <= height ? [size, Math.floor((size * height) / width)] : [Math.floor((size * width) / height), size];
      // torchvision's CenterCrop: offsets rounded half to even (Python's round).
      const left = roundHalfEven((w - crop) / 2);
      const top = roundHalfEven((h - crop) / 2);
      return { resizeWidth: w, resizeHeight: h, left, top, width: crop, height: crop, outWidth: crop, outHeight: crop };
    }
    case 'height': {
      const w = Math.max(1, Math.min(resize.maxWidth, Math.ceil((resize.height * width) / height)));
      const out = resize.multiple === undefined ? resize.maxWidth : Math.min(resize.maxWidth, Math.ceil(w / resize.multiple) * resize.multiple);
      return whole(w, resize.height, Math.max(out, w), resize.height);
    }
    case 'multiple-of': {
      const ratio = Math.max(width, height) > resize.maxSide ? resize.maxSide / Math.max(width, height) : 1;
      const round = (length: number): number => Math.max(resize.multiple, roundHalfEven((length * ratio) / resize.multiple) * resize.multiple);
      return whole(round(width), round(height));
    }
  }
}
