import { ppOcrAssetsDir } from '../../src/cli/default-models.js';
import { join } from 'node:path';

/** The three PP-OCR models with input shapes small enough for tests on 2 cores. */
export const PP_OCR = [
  { id: 'cls', path: join(ppOcrAssetsDir(), 'ch_ppocr_mobile_v2.0_cls_infer.onnx'), shape: [1, 3, 48, 192] },
  { id: 'rec', path: join(ppOcrAssetsDir(), 'ch_PP-OCRv4_rec_infer.onnx'), shape: [1, 3, 48, 320] },
  { id: 'det', path: join(ppOcrAssetsDir(), 'ch_PP-OCRv4_det_infer.onnx'), shape: [1, 3, 160, 160] },
] as const;
