/**
 * Text recognition with PP-OCR's CTC recognizer: upright line crops in, strings out.
 */
import { KilnError } from '../../core/errors.js';
import type { Engine } from '../../runtime/engine.js';
import { ctcGreedyDecode, type Charset, type Decoded } from './ctc.js';
import { IMAGE_PRESETS, prepareImage, resolveImagePreprocess } from '../../image/index.js';
import type { RgbImage } from './types.js';

/** Settings of recognition (PaddleOCR's inference defaults for PP-OCRv4). */
export interface RecognizeConfig {
  /** Input rows; the model's only fixed dimension. */
  readonly height: number;
  /** The narrowest batch width: short words are padded to it, as in training. */
  readonly minWidth: number;
  /** Crops per run. */
  readonly batchSize: number;
}

const REC_RESIZE = IMAGE_PRESETS['ppocr-rec'].resize as { readonly height: number; readonly minWidth: number };

/**
 * Defaults for {@link RecognizeConfig}: the `ppocr-rec` preset's height and minimum width, and one
 * crop per run. The recognizer's cost grows with the columns it is fed, and batching does not
 * amortize it: on 2 cores (1 intra-op thread, 48×1100 inputs) a batch of 6 took 128 µs of CPU per
 * column against 91 µs one at a time (cache), and padding a batch to its widest line adds
 * columns that hold nothing. On rendered 960 px pages one crop per run cost 27 % less CPU per
 * page and read slightly better (no padding to read through).
 */
export const RECOGNIZE_DEFAULTS: RecognizeConfig = Object.freeze({ height: REC_RESIZE.height, minWidth: REC_RESIZE.minWidth, batchSize: 1 });

/**
 * The width of a batch: wide enough for its widest crop at the model's height, and at least
 * `minWidth`. Each crop keeps its aspect ratio and is right-padded to this width.
 */
export function batchWidth(crops: readonly RgbImage[], config: RecognizeConfig = RECOGNIZE_DEFAULTS): number {
  const ratio = Math.max(config.minWidth / config.height, ...crops.map((crop) => crop.width / crop.height));
  return Math.ceil(config.height * ratio);
}

/**
 * Reads each crop. Crops are sorted by aspect ratio before batching so that each batch pads
 * its members to a similar width (less wasted compute, and less padding for the model to
 * read through); results come back in the order of `crops`.
 */
export async function recognizeCrops(
  engine: Engine,
  crops: readonly RgbImage[],
  charset: Charset,
  config: RecognizeConfig = RECOGNIZE_DEFAULTS,
): Promise<Decoded[]> {
  const order = crops.map((_, index) => index).sort((a, b) => crops[a]!.width / crops[a]!.height - crops[b]!.width / crops[b]!.height);
  const results: Decoded[] = new Array<Decoded>(crops.length);
  for (let start = 0; start < order.length; start += config.batchSize) {
    const indices = order.slice(start, start + config.batchSize);
    const decoded = await recognizeBatch(engine, indices.map((index) => crops[index]!), charset, config);
    indices.forEach((index, position) => (results[index] = decoded[position]!));
  }
  return results;
}

async function recognizeBatch(engine: Engine, batch: readonly RgbImage[], charset: Charset, config: RecognizeConfig): Promise<Decoded[]> {
  const { height } = config;
  const width = batchWidth(batch, config);
  const slot = 3 * height * width;
  const data = new Float32Array(batch.length * slot);
  // The `ppocr-rec` preset at the batch's width: each crop keeps its aspect at `height` rows and
  // is padded on the right to the widest one (a batch of one is the preset exactly).
  const preprocess = resolveImagePreprocess({ ...IMAGE_PRESETS['ppocr-rec'], resize: { mode: 'height', height, maxWidth: width } });
  for (const [index, crop] of batch.entries()) data.set((await prepareImage({ ...crop, channels: 3 }, preprocess)).data, index * slot);
  const outputs = await engine.run({ x: { type: 'float32', dims: [batch.length, 3, height, width], data } });
  const probs = Object.values(outputs)[0]!;
  const [, steps = 0, classes = 0] = probs.dims;
  if (classes !== charset.length) {
    // Only reachable with a model whose class count is not fixed in its signature (else load checks it).
    throw new KilnError('KILN_HANDLER_FAILED', `${engine.label}: ${classes} output classes, but the character set has ${charset.length}`, {
      details: { classes, charset: charset.length },
    });
  }
  return batch.map((_, index) => ctcGreedyDecode(probs.data as Float32Array, steps, charset, index * steps * classes));
}
