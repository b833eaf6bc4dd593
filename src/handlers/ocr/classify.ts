/**
 * Text orientation with PP-OCR's direction classifier: says whether a line crop reads upright
 * ('0') or upside down ('180'), and turns the upside-down ones before recognition.
 */
import type { Engine } from '../../runtime/engine.js';
import { IMAGE_PRESETS, prepareImage } from '../../image/index.js';
import { rotate180, sliceColumns } from './pixels.js';
import type { RgbImage } from './types.js';

/** The classifier's fixed input: 48 rows by 192 columns (the `ppocr-cls` preset). */
export const CLS_INPUT = Object.freeze({ height: 48, width: 192 });
const CLS_PREPROCESS = IMAGE_PRESETS['ppocr-cls'];

/** Class names in the order of the classifier's output. */
export const CLS_LABELS = Object.freeze(['0', '180'] as const);

/** An orientation class name. */
export type Orientation = (typeof CLS_LABELS)[number];

/** Settings of orientation classification (PaddleOCR's inference defaults). */
export interface ClassifyConfig {
  /** A crop is turned only when '180' wins with at least this probability. */
  readonly flipThreshold: number;
  /** Crops per run. */
  readonly batchSize: number;
}

/** Defaults for {@link ClassifyConfig}, written once. */
export const CLASSIFY_DEFAULTS: ClassifyConfig = Object.freeze({ flipThreshold: 0.9, batchSize: 6 });

/** The classifier's verdict on one crop. */
export interface OrientationResult {
  readonly label: Orientation;
  readonly score: number;
}

/**
 * Cuts a crop wider than the classifier's 4:1 window into equal pieces that each fit it. Squeezed
 * into one window, a long line is unreadably compressed (a 13:1 line shrinks 3.3 times) and the
 * classifier guesses: on rendered pages it called such lines upright at 0.77 when they were
 * upside down. Pieces keep the text at the scale the classifier was trained on.
 */
export function orientationTiles(crop: RgbImage): RgbImage[] {
  const windowRatio = CLS_INPUT.width / CLS_INPUT.height;
  const count = Math.max(1, Math.ceil(crop.width / crop.height / windowRatio - 1e-9));
  const step = Math.ceil(crop.width / count);
  return Array.from({ length: count }, (_, index) => sliceColumns(crop, index * step, Math.min(crop.width, (index + 1) * step)));
}

/**
 * Classifies the orientation of each crop. Each crop is cut into {@link orientationTiles}; the
 * tiles are scaled to 48 rows (at most 192 columns), right-padded with zeros (mid-grey after
 * normalization), run in batches. The tiles' evidence is combined by adding their log-odds, so
 * a piece that is mostly blank (odds near 1:1) neither helps nor dilutes the confident pieces.
 */
export async function classifyOrientation(
  engine: Engine,
  crops: readonly RgbImage[],
  config: ClassifyConfig = CLASSIFY_DEFAULTS,
): Promise<OrientationResult[]> {
  const tiles = crops.flatMap((crop, owner) => orientationTiles(crop).map((tile) => ({ owner, tile })));
  const logOdds = new Float64Array(crops.length);
  const { height, width } = CLS_INPUT;
  for (let start = 0; start < tiles.length; start += config.batchSize) {
    const batch = tiles.slice(start, start + config.batchSize);
    const data = new Float32Array(batch.length * 3 * height * width);
    for (const [index, { tile }] of batch.entries()) {
      data.set((await prepareImage({ ...tile, channels: 3 }, CLS_PREPROCESS)).data, index * 3 * height * width);
    }
    const outputs = await engine.run({ x: { type: 'float32', dims: [batch.length, 3, height, width], data } });
    const probs = Object.values(outputs)[0]!.data as Float32Array;
    for (const [index, { owner }] of batch.entries()) {
      // Softmax over two classes: the '180' probability says it all. Clamped so one saturated
      // tile cannot make the sum infinite.
      const flipped = Math.min(1 - 1e-6, Math.max(1e-6, probs[index * 2 + 1]!));
      logOdds[owner] = logOdds[owner]! + Math.log(flipped / (1 - flipped));
    }
  }
  return Array.from(logOdds, (odds) => {
    const flipped = 1 / (1 + Math.exp(-odds));
    return flipped > 0.5 ? { label: '180', score: flipped } : { label: '0', score: 1 - flipped };
  });
}

/**
 * Classifies the crops and returns them with the confidently upside-down ones turned by 180°;
 * a weak '180' verdict is not trusted, since turning an upright line ruins it.
 */
export async function uprightCrops(
  engine: Engine,
  crops: readonly RgbImage[],
  config: ClassifyConfig = CLASSIFY_DEFAULTS,
): Promise<RgbImage[]> {
  const results = await classifyOrientation(engine, crops, config);
  return crops.map((crop, index) => {
    const result = results[index]!;
    return result.label === '180' && result.score > config.flipThreshold ? rotate180(crop) : crop;
  });
}
