/**
 * The OCR pipeline: detect text boxes, crop them upright, fix upside-down lines, read them.
 * Loading is separate from running so the three sessions are created once per worker.
 */
import { readFile } from 'node:fs/promises';
import { KilnError, describeError } from '../../core/errors.js';
import { silentLogger } from '../../core/log.js';
import { Engine } from '../../runtime/engine.js';
import { CLASSIFY_DEFAULTS, uprightCrops } from './classify.js';
import { cropTextLine } from './crop.js';
import { parseCharset, type Charset } from './ctc.js';
import { DETECT_DEFAULTS, detectText, type DetectConfig } from './detect.js';
import { decodeRequestImage } from '../request-image.js';
import { RECOGNIZE_DEFAULTS, recognizeCrops } from './recognize.js';
import type { OcrLine, OcrPipeline, OcrPipelineOptions, Quad } from './types.js';

/** Defaults of {@link OcrPipelineOptions} that are not detection settings. */
export const OCR_DEFAULTS = Object.freeze({ threads: 0, classifyOrientation: true, minLineScore: 0.5 });

/**
 * Loads the three PP-OCR models and the character list.
 * @throws KilnError `KILN_HANDLER_LOAD_FAILED` when the character list does not fit the
 * recognizer, `KILN_IO_READ_FAILED` when it cannot be read, and the engine's errors for models.
 * @example
 * const ocr = await loadOcrPipeline({ detPath, clsPath, recPath, keysPath, threads: 2 });
 * const lines = await ocr.recognize(await readFile('receipt.png'));
 * await ocr.close();
 */
export async function loadOcrPipeline(options: OcrPipelineOptions): Promise<OcrPipeline> {
  const logger = (options.logger ?? silentLogger()).child({ component: 'ocr' });
  const charset = await readCharset(options.keysPath);
  const engineOptions = { intraOpThreads: options.threads ?? OCR_DEFAULTS.threads, logger };
  const loaded = await Promise.allSettled([
    Engine.load(options.detPath, { ...engineOptions, label: 'ocr-det' }),
    Engine.load(options.clsPath, { ...engineOptions, label: 'ocr-cls' }),
    Engine.load(options.recPath, { ...engineOptions, label: 'ocr-rec' }),
  ]);
  const engines = loaded.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failure = loaded.find((result) => result.status === 'rejected');
  if (failure) {
    await Promise.all(engines.map((engine) => engine.release()));
    throw failure.reason;
  }
  const [det, cls, rec] = engines as [Engine, Engine, Engine];
  const classes = rec.outputs[0]?.shape[2];
  if (typeof classes === 'number' && classes !== charset.length) {
    await Promise.all(engines.map((engine) => engine.release()));
    throw new KilnError(
      'KILN_HANDLER_LOAD_FAILED',
      `ocr: ${options.keysPath} gives ${charset.length} classes (with blank and space), the recognizer outputs ${classes}`,
      { details: { keysPath: options.keysPath, charset: charset.length, classes } },
    );
  }
  const detect: DetectConfig = { ...DETECT_DEFAULTS, maxSideLength: options.maxSideLength ?? DETECT_DEFAULTS.maxSideLength };
  const classify = options.classifyOrientation ?? OCR_DEFAULTS.classifyOrientation;
  const minLineScore = options.minLineScore ?? OCR_DEFAULTS.minLineScore;
  logger.debug({ classes: charset.length, detect, classify, minLineScore }, 'ocr pipeline loaded');

  return {
    async recognize(bytes) {
      const started = performance.now();
      const image = await decodeRequestImage(bytes);
      const boxes = await detectText(det, image, detect, bytes);
      if (boxes.length === 0) return [];
      let crops = boxes.map(({ box }) => cropTextLine(image, box));
      if (classify) crops = await uprightCrops(cls, crops, CLASSIFY_DEFAULTS);
      const read = await recognizeCrops(rec, crops, charset, RECOGNIZE_DEFAULTS);
      const lines: OcrLine[] = [];
      read.forEach(({ text, score }, index) => {
        // Low scores are mostly non-text blobs the detector let through; PaddleOCR drops them too.
        // Spaces read at either end come from the crop's margin, not from the text.
        const trimmed = text.trim();
        if (trimmed === '' || score < minLineScore) return;
        lines.push({ text: trimmed, score, box: toBox(boxes[index]!.box) });
      });
      logger.debug({ width: image.width, height: image.height, boxes: boxes.length, lines: lines.length, ms: performance.now() - started }, 'ocr done');
      return lines;
    },
    async close() {
      await Promise.all([det.release(), cls.release(), rec.release()]);
    },
  };
}

async function readCharset(path: string): Promise<Charset> {
  try {
    return parseCharset(await readFile(path, 'utf8'));
  } catch (error) {
    throw new KilnError('KILN_IO_READ_FAILED', `ocr: cannot read the character list ${path}: ${describeError(error)}`, {
      cause: error,
      details: { path },
    });
  }
}

/** A quad as the mutable, rounded-to-0.1-pixel tuple of {@link OcrLine.box}. */
function toBox(quad: Quad): OcrLine['box'] {
  const round = (value: number) => Math.round(value * 10) / 10;
  const point = (index: 0 | 1 | 2 | 3): [number, number] => [round(quad[index][0]), round(quad[index][1])];
  return [point(0), point(1), point(2), point(3)];
}
