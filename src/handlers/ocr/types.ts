/**
 * Public types of the built-in OCR pipeline (PP-OCR detection → orientation → recognition).
 * Kept apart from the step modules so callers depend on the shapes, not on the implementation.
 */
import type { Logger } from '../../core/log.js';

/** A point in image pixels: x to the right, y downwards; pixel `(i, j)` covers `[i, i+1) × [j, j+1)`. */
export type Point = readonly [x: number, y: number];

/** Four corners clockwise from the top-left: top-left, top-right, bottom-right, bottom-left. */
export type Quad = readonly [Point, Point, Point, Point];

/**
 * A decoded image as 8-bit interleaved RGB, row-major. Every step of the pipeline passes this
 * shape, so sharp is only needed where pixels are decoded or resampled.
 */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** `width * height * 3` bytes, R G B per pixel. */
  readonly data: Uint8Array;
}

/** One recognized line of text. */
export interface OcrLine {
  /** The text read, as the recognizer's character set spells it: inner spaces kept, ends trimmed. */
  readonly text: string;
  /** Mean probability of the characters kept by the decoder, in [0, 1]. */
  readonly score: number;
  /** Where the line is, in pixels of the original image, clockwise from its top-left corner. */
  readonly box: [[number, number], [number, number], [number, number], [number, number]];
}

/** A loaded OCR pipeline: three sessions and a character set, reused across calls. */
export interface OcrPipeline {
  /**
   * Reads every text line in an encoded image (PNG, JPEG, WebP, ...), in reading order: top to
   * bottom, and left to right within a row. A page without text gives `[]`.
   * Throws `KILN_HANDLER_INPUT_INVALID` when the bytes are not a decodable image.
   */
  recognize(image: Uint8Array): Promise<OcrLine[]>;
  /** Frees the three native sessions; the pipeline cannot be used afterwards. */
  close(): Promise<void>;
}

/** Where the pipeline's files are, and how it runs. */
export interface OcrPipelineOptions {
  /** PP-OCR DB text detector (`ch_PP-OCRv4_det_infer.onnx`). */
  readonly detPath: string;
  /** PP-OCR text orientation classifier (`ch_ppocr_mobile_v2.0_cls_infer.onnx`). */
  readonly clsPath: string;
  /** PP-OCR CTC recognizer (`ch_PP-OCRv4_rec_infer.onnx`). */
  readonly recPath: string;
  /** The recognizer's character list, one per line (`ppocr_keys_v1.txt`). */
  readonly keysPath: string;
  /** Threads per operator for each session. @defaultValue 0 (onnxruntime picks) */
  readonly threads?: number;
  /** Longer image side the detector sees; larger finds smaller text but costs more. @defaultValue 960 */
  readonly maxSideLength?: number;
  /** Run the 0°/180° orientation classifier on each line. @defaultValue true */
  readonly classifyOrientation?: boolean;
  /** Lines read with a lower confidence are dropped, as noise. @defaultValue 0.5 */
  readonly minLineScore?: number;
  readonly logger?: Logger;
}
