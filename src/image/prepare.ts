/**
 * The one implementation of an image description: encoded bytes (or raw pixels) in, a float32
 * tensor out, as decode → EXIF orient → colour (alpha flattened on white) → resize → crop →
 * pad → normalize → layout.
 *
 * Fast by construction: the geometry is planned from the header's size before any pixel is
 * decoded, and decode, orientation, flattening, resize and crop run as ONE sharp pipeline, so
 * libjpeg's shrink-on-load applies whenever a JPEG is shrunk (it decodes at 1/2, 1/4 or 1/8
 * size directly, the largest saving on camera-size photos). Padding is not done by sharp (it
 * would extend before resizing, whatever the call order): the normalize loop writes the window
 * into a tensor already holding the padding value. Normalization is one multiply-add per value
 * with per-channel constants hoisted, in a typed-array loop; {@link prepareImagePixels} stops
 * before it, for a model that normalizes in its own graph (the preprocessing folded in).
 */
import { sharp, type OutputInfo, type Sharp } from './sharp.js';
import { KilnError, describeError } from '../core/errors.js';
import { ALPHA_BACKGROUND, MAX_INPUT_PIXELS, channelCount, invalidPreprocess, type ImagePreprocess } from './description.js';
import { planResize, type ResizePlan } from './geometry.js';
import { readJpegGeometry } from './jpeg-header.js';

/** Decoded 8-bit pixels, interleaved, row-major (`width * height * channels` bytes). */
export interface RawPixels {
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 2 | 3 | 4;
  readonly data: Uint8Array;
}

/** What {@link prepareImage} takes: encoded bytes (PNG, JPEG, WebP, GIF, AVIF, TIFF…) or raw pixels. */
export type ImageInput = Uint8Array | RawPixels;

/** A prepared image: `[1, C, H, W]` (nchw) or `[1, H, W, C]` (nhwc) float32 values. */
export interface ImageTensor {
  readonly dims: readonly [1, number, number, number];
  readonly data: Float32Array;
}

/** 8-bit RGB pixels as the OCR steps pass them (3 bytes per pixel). */
export interface RgbPixels {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

function isRaw(input: ImageInput): input is RawPixels {
  return !(input instanceof Uint8Array);
}

function undecodable(bytes: number, error: unknown): KilnError {
  return new KilnError('KILN_IMAGE_DECODE_FAILED', `not an image kiln can decode: ${describeError(error)}`, { cause: error, details: { bytes } });
}

/** A sharp instance over the input, and the upright size of the image it holds. */
async function open(input: ImageInput): Promise<{ image: Sharp; width: number; height: number }> {
  if (isRaw(input)) {
    const { width, height, channels } = input;
    return { image: sharp(input.data, { raw: { width, height, channels } }), width, height };
  }
  try {
    // Truncated or corrupt files are refused rather than read in part.
    const image = sharp(input, { failOn: 'error', limitInputPixels: MAX_INPUT_PIXELS });
    const { width, height, orientation } = readJpegGeometry(input) ?? (await image.metadata());
    if (!width || !height) throw new Error('no image size in the header');
    // EXIF orientations 5–8 turn the image a quarter: the upright image is height × width.
    const turned = (orientation ?? 1) >= 5;
    return { image: image.autoOrient(), width: turned ? height : width, height: turned ? width : height };
  } catch (error) {
    throw undecodable(input.byteLength, error);
  }
}

/** The window sharp gives for a description: interleaved 8-bit pixels and their geometry. */
interface DecodedWindow {
  readonly data: Buffer;
  /** Bytes per pixel as sharp wrote them (1 for gray, 3 for colour; 2 or 4 with alpha). */
  readonly stride: number;
  readonly plan: ResizePlan;
}

/**
 * The one sharp pipeline every path shares: decode (shrink-on-load), orient, flatten, colour,
 * resize and crop, to raw interleaved pixels of the window `plan.width × plan.height`.
 */
async function decodeWindow(input: ImageInput, preprocess: ImagePreprocess): Promise<DecodedWindow> {
  const { image, width, height } = await open(input);
  const plan = planResize(preprocess.resize, width, height);
  let pipeline = image.flatten({ background: ALPHA_BACKGROUND }).toColourspace(preprocess.channelOrder === 'gray' ? 'b-w' : 'srgb');
  if (plan.resizeWidth !== width || plan.resizeHeight !== height) {
    pipeline = pipeline.resize(plan.resizeWidth, plan.resizeHeight, { fit: 'fill', kernel: preprocess.kernel });
  }
  if (plan.width !== plan.resizeWidth || plan.height !== plan.resizeHeight) {
    // After resize() in the chain, sharp extracts from the resized image (post-resize extract).
    pipeline = pipeline.extract({ left: plan.left, top: plan.top, width: plan.width, height: plan.height });
  }
  let pixels: { data: Buffer; info: OutputInfo };
  try {
    pixels = await pipeline.raw().toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw undecodable(isRaw(input) ? input.data.byteLength : input.byteLength, error);
  }
  return { data: pixels.data, stride: pixels.info.channels, plan };
}

/**
 * Runs a description on one image and returns its tensor. Calibration and serving both call
 * this, so the same bytes and description give the same Float32Array, bit for bit.
 * @throws KilnError `KILN_IMAGE_DECODE_FAILED` when the bytes are not a decodable image (or
 *   exceed {@link MAX_INPUT_PIXELS}).
 * @example const { dims, data } = await prepareImage(await readFile('cat.jpg'), IMAGE_PRESETS.imagenet);
 */
export async function prepareImage(input: ImageInput, preprocess: ImagePreprocess): Promise<ImageTensor> {
  const { data, stride, plan } = await decodeWindow(input, preprocess);
  return normalize(data, stride, plan, preprocess);
}

/** A prepared image before normalization: uint8 `[1, H, W, C]`, interleaved, source colours (RGB or gray). */
export interface ImagePixels {
  readonly dims: readonly [1, number, number, number];
  readonly data: Uint8Array;
}

/**
 * True when a description's arithmetic can run inside the model on {@link prepareImagePixels}'
 * output: its resize mode always fills a fixed-size tensor with no padding (`stretch`,
 * `shorter-side`). Padding is written in normalized space and varies per image, so `pad`,
 * `height` and `multiple-of` cannot be folded.
 */
export function canFoldPreprocess(preprocess: ImagePreprocess): boolean {
  return preprocess.resize.mode === 'stretch' || preprocess.resize.mode === 'shorter-side';
}

/**
 * Runs the same sharp pipeline as {@link prepareImage} and returns the window's 8-bit pixels,
 * without normalizing: uint8 `[1, H, W, C]` in SOURCE band order (RGB, or gray; a model folded
 * with `kiln archive --fold-preprocess` or by the image_classifier does BGR, scale, mean, std and
 * layout itself). Only for descriptions where {@link canFoldPreprocess} is true.
 * @throws KilnError `KILN_IMAGE_DECODE_FAILED` when the bytes are not a decodable image;
 *   `KILN_IMAGE_PREPROCESS_INVALID` when the description would pad.
 */
export async function prepareImagePixels(input: ImageInput, preprocess: ImagePreprocess): Promise<ImagePixels> {
  if (!canFoldPreprocess(preprocess)) throw invalidPreprocess(`pixels without normalization need a stretch or shorter-side resize, not ${preprocess.resize.mode}`);
  const { data, stride, plan } = await decodeWindow(input, preprocess);
  const channels = channelCount(preprocess);
  const dims = [1, plan.height, plan.width, channels] as const;
  if (stride === channels) return { dims, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  // sharp kept a band count the tensor does not have (a grey source, alpha): the same band
  // choice as normalize, one band per tensor channel.
  const colourBands = stride === 2 || stride === 4 ? stride - 1 : stride;
  const out = new Uint8Array(plan.width * plan.height * channels);
  for (let pixel = 0, from = 0; pixel < out.length; pixel += channels, from += stride) {
    for (let band = 0; band < channels; band++) out[pixel + band] = data[from + Math.min(band, colourBands - 1)]!;
  }
  return { dims, data: out };
}

/**
 * Writes the window of interleaved 8-bit pixels (`plan.width × plan.height`, `stride` bytes per
 * pixel) into a fresh tensor filled with the padding, as `pixel · (scale / std[c]) − mean[c] / std[c]`
 * for tensor channel c, reading source band `order[c]`. Exported for the tests.
 */
export function normalize(pixels: Uint8Array, stride: number, plan: ResizePlan, preprocess: ImagePreprocess): ImageTensor {
  const channels = channelCount(preprocess);
  const { outWidth, outHeight, width, height, x, y } = plan;
  const out = new Float32Array(channels * outWidth * outHeight);
  if (preprocess.padValue !== 0 && (width !== outWidth || height !== outHeight)) out.fill(preprocess.padValue);
  // Tensor channel → source band: BGR reads the bands backwards; a grey source serves all three.
  const order = preprocess.channelOrder === 'bgr' ? [2, 1, 0] : [0, 1, 2];
  const nchw = preprocess.layout === 'nchw';
  const plane = outWidth * outHeight;
  const step = nchw ? 1 : channels;
  const rowBytes = width * stride;
  const colourBands = stride === 2 || stride === 4 ? stride - 1 : stride;
  for (let channel = 0; channel < channels; channel++) {
    const band = Math.min(order[channel]!, colourBands - 1);
    const gain = preprocess.scale / preprocess.std[channel]!;
    const offset = -preprocess.mean[channel]! / preprocess.std[channel]!;
    for (let row = 0; row < height; row++) {
      let from = row * rowBytes + band;
      let to = nchw ? channel * plane + (row + y) * outWidth + x : ((row + y) * outWidth + x) * channels + channel;
      const end = from + rowBytes;
      for (; from < end; from += stride, to += step) out[to] = pixels[from]! * gain + offset;
    }
  }
  return { dims: nchw ? [1, channels, outHeight, outWidth] : [1, outHeight, outWidth, channels], data: out };
}

/**
 * Decodes encoded bytes to upright 8-bit RGB, alpha flattened on white: the page the OCR steps
 * crop lines from, in the same coordinates as {@link prepareImage} sees it.
 * @throws KilnError `KILN_IMAGE_DECODE_FAILED` when the bytes are not a decodable image.
 */
export async function decodeRgb(bytes: Uint8Array): Promise<RgbPixels> {
  try {
    const { data, info } = await sharp(bytes, { failOn: 'error', limitInputPixels: MAX_INPUT_PIXELS })
      .autoOrient()
      .flatten({ background: ALPHA_BACKGROUND })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels === 3) return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
    const rgb = new Uint8Array(info.width * info.height * 3);
    for (let pixel = 0, from = 0; pixel < rgb.length; pixel += 3, from += info.channels) {
      for (let band = 0; band < 3; band++) rgb[pixel + band] = data[from + Math.min(band, info.channels - 1)]!;
    }
    return { width: info.width, height: info.height, data: rgb };
  } catch (error) {
    throw undecodable(bytes.byteLength, error);
  }
}
