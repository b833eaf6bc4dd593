/**
 * The compact string form of an image description, as `kiln quantize --preprocess` and
 * model-config.yaml (`handler.image: 'resize=…'`) take it. It resolves through the same schema as
 * the mapping form, so the two cannot drift apart.
 */
import { IMAGE_PRESETS, invalidPreprocess, isImagePreset, resolveImagePreprocess, type ImagePreprocess, type ImageResize } from './description.js';

const RESIZE_SYNTAX =
  'stretch:WIDTHxHEIGHT, shorter-side:SIZE:CROP, pad:WIDTHxHEIGHT, height:HEIGHT:[MINWIDTH-]MAXWIDTH[:MULTIPLE] or multiple-of:MAXSIDE:MULTIPLE';
const KEYS = ['preset', 'resize', 'kernel', 'scale', 'mean', 'std', 'order', 'layout', 'pad'] as const;

function parseNumber(text: string, key: string): number {
  // A fraction such as 1/255 or 1/127.5 is the usual way to write a scale.
  const parts = text.split('/');
  const values = parts.map((part) => (part.trim() === '' ? NaN : Number(part)));
  if (parts.length > 2 || values.some((value) => !Number.isFinite(value))) throw invalidPreprocess(`${key}: '${text}' is not a number`);
  return values.length === 2 ? values[0]! / values[1]! : values[0]!;
}

function positive(text: string, whole: string): number {
  if (!/^\d+$/.test(text)) throw invalidPreprocess(`resize '${whole}': '${text}' is not a positive integer`);
  return Number(text);
}

/** Reads `resize=`'s value; the numbers are checked by the schema afterwards. */
export function parseResize(text: string): ImageResize {
  const [mode = '', ...rest] = text.split(':');
  const count = (min: number, max = min): void => {
    if (rest.length < min || rest.length > max) throw invalidPreprocess(`resize '${text}': ${mode} takes ${min}${max > min ? `–${max}` : ''} values (${RESIZE_SYNTAX})`);
  };
  switch (mode) {
    case 'stretch':
    case 'pad': {
      const match = /^(\d+)x(\d+)$/.exec(rest.join(':'));
      if (!match) throw invalidPreprocess(`resize '${text}': expected ${mode}:WIDTHxHEIGHT, e.g. ${mode}:192x48`);
      return { mode, width: Number(match[1]), height: Number(match[2]) };
    }
    case 'shorter-side': {
      count(2);
      return { mode, size: positive(rest[0]!, text), crop: positive(rest[1]!, text) };
    }
    case 'height': {
      count(2, 3);
      const [minText, maxText] = rest[1]!.includes('-') ? rest[1]!.split('-', 2) : [undefined, rest[1]!];
      const height = positive(rest[0]!, text);
      const maxWidth = positive(maxText!, text);
      return {
        mode,
        height,
        maxWidth,
        ...(minText !== undefined ? { minWidth: positive(minText, text) } : {}),
        ...(rest[2] !== undefined ? { multiple: positive(rest[2], text) } : {}),
      };
    }
    case 'multiple-of': {
      count(2);
      return { mode, maxSide: positive(rest[0]!, text), multiple: positive(rest[1]!, text) };
    }
    default:
      throw invalidPreprocess(`unknown resize mode '${mode}' (use ${RESIZE_SYNTAX})`);
  }
}

/**
 * Reads a description from its compact string: a preset name alone (`imagenet`, `ppocr-det`,
 * `ppocr-rec`, `ppocr-cls`), or comma-separated `key=value` items, where an item without `=`
 * continues the previous key's list (for `mean` and `std`):
 * - `preset=` a preset to start from (the other keys override its fields)
 * - `resize=` `stretch:WIDTHxHEIGHT` | `shorter-side:SIZE:CROP` | `pad:WIDTHxHEIGHT` |
 *   `height:HEIGHT:[MINWIDTH-]MAXWIDTH[:MULTIPLE]` | `multiple-of:MAXSIDE:MULTIPLE`
 *   (required without a preset; see {@link ImageResize})
 * - `kernel=` linear | cubic | lanczos3 (default linear)
 * - `scale=` a number or fraction (default 1/255)
 * - `mean=` and `std=` one number for all channels or one per channel, in the TENSOR's channel
 *   order (defaults 0 and 1)
 * - `order=` rgb | bgr | gray, `layout=` nchw | nhwc, `pad=` the padding's tensor value
 *   (defaults rgb, nchw, 0)
 * @throws KilnError `KILN_IMAGE_PREPROCESS_INVALID` naming the item that is wrong.
 * @example parseImagePreprocess('imagenet')
 * @example parseImagePreprocess('resize=shorter-side:256:224,mean=0.485,0.456,0.406,std=0.229,0.224,0.225')
 * @example parseImagePreprocess('preset=ppocr-cls,layout=nhwc')
 */
export function parseImagePreprocess(text: string): ImagePreprocess {
  const trimmed = text.trim();
  if (isImagePreset(trimmed)) return IMAGE_PRESETS[trimmed];
  const items = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const raw of trimmed.split(',')) {
    const item = raw.trim();
    const equals = item.indexOf('=');
    if (equals < 0) {
      if (!current || item === '') {
        throw invalidPreprocess(`'${item}' in '${text}' is not key=value (keys: ${KEYS.join(', ')}) nor a preset (${Object.keys(IMAGE_PRESETS).join(', ')})`);
      }
      current.push(item);
      continue;
    }
    const key = item.slice(0, equals).trim();
    if (!(KEYS as readonly string[]).includes(key)) throw invalidPreprocess(`unknown key '${key}' (keys: ${KEYS.join(', ')})`);
    if (items.has(key)) throw invalidPreprocess(`'${key}' is given twice`);
    current = [item.slice(equals + 1).trim()];
    items.set(key, current);
  }
  if (!items.has('resize') && !items.has('preset')) throw invalidPreprocess(`'${text}' has no resize= (${RESIZE_SYNTAX}) and no preset`);
  const single = (key: string): string | undefined => {
    const values = items.get(key);
    if (values && values.length !== 1) throw invalidPreprocess(`${key} takes one value, not ${values.length}`);
    return values?.[0];
  };
  const channels = (key: string): number[] | undefined => {
    const values = items.get(key)?.map((value) => parseNumber(value, key));
    if (values && values.length !== 1 && values.length !== 3) throw invalidPreprocess(`${key} takes 1 or 3 numbers, not ${values.length}`);
    return values;
  };
  const options: Record<string, unknown> = {};
  const preset = single('preset');
  const resize = single('resize');
  const scale = single('scale');
  const pad = single('pad');
  if (preset !== undefined) options['preset'] = preset;
  if (resize !== undefined) options['resize'] = parseResize(resize);
  if (scale !== undefined) options['scale'] = parseNumber(scale, 'scale');
  if (pad !== undefined) options['padValue'] = parseNumber(pad, 'pad');
  if (items.has('mean')) options['mean'] = channels('mean');
  if (items.has('std')) options['std'] = channels('std');
  if (items.has('kernel')) options['kernel'] = single('kernel');
  if (items.has('order')) options['channelOrder'] = single('order');
  if (items.has('layout')) options['layout'] = single('layout');
  return resolveImagePreprocess(options);
}
