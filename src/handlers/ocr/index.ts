/**
 * The built-in OCR pipeline on PaddleOCR's PP-OCR models: `loadOcrPipeline` and its types.
 */
export { OCR_DEFAULTS, loadOcrPipeline } from './pipeline.js';
export type { OcrLine, OcrPipeline, OcrPipelineOptions, Point, Quad, RgbImage } from './types.js';
