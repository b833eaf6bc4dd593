/**
 * Text detection with PP-OCR's DB (differentiable binarization) model: resize and normalize the
 * page, run the detector, and turn its per-pixel text probability into rotated boxes.
 */
import type { Engine } from '../../runtime/engine.js';
import { connectedComponents } from './components.js';
import { expandRect, mapQuad, minAreaRect, readingOrder, rectCorners, unclipDistance, type RotatedRect } from './geometry.js';
import { IMAGE_PRESETS, prepareImage, resolveImagePreprocess, type ImagePreprocess } from '../../image/index.js';
import type { Quad, RgbImage } from './types.js';

/** Settings of detection; the values are PaddleOCR's published inference defaults. */
export interface DetectConfig {
  /** The longer side of the detector's input, in pixels (smaller images are not enlarged). */
  readonly maxSideLength: number;
  /** A pixel is text when its probability exceeds this. */
  readonly binaryThreshold: number;
  /** A region is kept when its mean probability reaches this. */
  readonly boxThreshold: number;
  /** Growth of each region back to the full text extent; see {@link unclipDistance}. */
  readonly unclipRatio: number;
  /** At most this many regions are considered per image. */
  readonly maxCandidates: number;
  /** Regions with a shorter side (detector pixels) are noise. */
  readonly minSize: number;
}

/** Defaults for {@link DetectConfig}, written once. */
export const DETECT_DEFAULTS: DetectConfig = Object.freeze({
  maxSideLength: 960,
  binaryThreshold: 0.3,
  boxThreshold: 0.6,
  unclipRatio: 1.5,
  maxCandidates: 1000,
  minSize: 3,
});

/**
 * The detector's preprocessing: the `ppocr-det` preset (ImageNet statistics, which the DB
 * backbone was trained with, on B, G, R as PaddleOCR feeds them; sides multiples of 32, since
 * the network downsamples by 32) with the longer side limited to `maxSideLength`.
 */
export function detectPreprocess(maxSideLength: number): ImagePreprocess {
  const preset = IMAGE_PRESETS['ppocr-det'];
  if (preset.resize.mode !== 'multiple-of' || preset.resize.maxSide === maxSideLength) return preset;
  return resolveImagePreprocess({ ...preset, resize: { ...preset.resize, maxSide: maxSideLength } });
}

/** A detected text box with the detector's confidence in it. */
export interface DetectedBox {
  readonly box: Quad;
  readonly score: number;
}

/**
 * Turns a probability map into boxes, in the map's own pixels: threshold, split into
 * 8-connected regions, fit each with its minimum-area rectangle, score it by the mean
 * probability inside, and grow the survivors by the unclip distance.
 */
export function boxesFromProbabilities(prob: Float32Array, width: number, height: number, config: DetectConfig = DETECT_DEFAULTS): DetectedBox[] {
  const mask = new Uint8Array(width * height);
  for (let index = 0; index < mask.length; index++) mask[index] = prob[index]! > config.binaryThreshold ? 1 : 0;
  const boxes: DetectedBox[] = [];
  for (const component of connectedComponents(mask, width, height, config.maxCandidates)) {
    const rect = minAreaRect(component.outline);
    if (Math.min(rect.width, rect.height) < config.minSize) continue;
    const score = meanInside(prob, width, height, rect);
    if (score < config.boxThreshold) continue;
    const grown = expandRect(rect, unclipDistance(rect.width, rect.height, config.unclipRatio));
    if (Math.min(grown.width, grown.height) < config.minSize + 2) continue;
    boxes.push({ box: rectCorners(grown), score });
  }
  return boxes;
}

/** Mean of `prob` over the pixels whose centres lie in the rectangle (its outline included). */
function meanInside(prob: Float32Array, width: number, height: number, rect: RotatedRect): number {
  const corners = rectCorners(rect);
  const xs = corners.map((point) => point[0]);
  const ys = corners.map((point) => point[1]);
  const x0 = Math.max(0, Math.floor(Math.min(...xs)));
  const x1 = Math.min(width - 1, Math.ceil(Math.max(...xs)));
  const y0 = Math.max(0, Math.floor(Math.min(...ys)));
  const y1 = Math.min(height - 1, Math.ceil(Math.max(...ys)));
  const cos = Math.cos(rect.angle);
  const sin = Math.sin(rect.angle);
  // Half a pixel of slack: the rectangle runs through the centres of the region's edge pixels.
  const halfU = rect.width / 2 + 0.5;
  const halfV = rect.height / 2 + 0.5;
  let sum = 0;
  let count = 0;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x + 0.5 - rect.cx;
      const dy = y + 0.5 - rect.cy;
      if (Math.abs(dx * cos + dy * sin) > halfU || Math.abs(-dx * sin + dy * cos) > halfV) continue;
      sum += prob[y * width + x]!;
      count++;
    }
  }
  return count === 0 ? 0 : sum / count;
}

/**
 * Finds the text boxes of an image: runs the detector on the page prepared by
 * {@link detectPreprocess} and maps the boxes back to the image's pixels (clamped to its edges),
 * in reading order. With `encoded`, the page's own bytes, the detector's input is made from them
 * in one pipeline (shrink-on-load for large JPEGs), exactly as calibrating with `--preprocess
 * ppocr-det` on the same file makes it; `image` then only gives the page's size.
 */
export async function detectText(engine: Engine, image: RgbImage, config: DetectConfig = DETECT_DEFAULTS, encoded?: Uint8Array): Promise<DetectedBox[]> {
  const { dims, data } = await prepareImage(encoded ?? { ...image, channels: 3 }, detectPreprocess(config.maxSideLength));
  const outputs = await engine.run({ x: { type: 'float32', dims: [...dims], data } });
  const prob = Object.values(outputs)[0]!;
  const [, , mapHeight = dims[2], mapWidth = dims[3]] = prob.dims;
  const scaleX = image.width / mapWidth;
  const scaleY = image.height / mapHeight;
  const clamp = (value: number, max: number) => Math.min(max, Math.max(0, value));
  const boxes = boxesFromProbabilities(prob.data as Float32Array, mapWidth, mapHeight, config).map(({ box, score }) => ({
    score,
    box: mapQuad(box, ([x, y]) => [clamp(x * scaleX, image.width), clamp(y * scaleY, image.height)]),
  }));
  return readingOrder(boxes);
}
