/**
 * A JPEG's size and EXIF orientation read from its header in JavaScript (image-size's JPEG
 * reader), so that planning a resize needs no sharp `metadata()` call: that call is a job on
 * libuv's pool, and its round trip cost a lone request ≈ 0.5 ms in a handler thread (measured
 * 2026-12-04, docs/benchmarks.md "Acceptance 1 with solo runs"), a fifth of a whole 224² decode.
 * Only a header read without doubt is used; anything else (another format, a truncated or odd
 * header, an orientation outside 1–8) is left to sharp, which decodes the image anyway.
 */
import { createRequire } from 'node:module';
import type { JPG as JpegReader } from 'image-size/types/jpg';

// CommonJS, as for sharp (./sharp.ts): the one reader, without image-size's other formats.
const { JPG } = createRequire(import.meta.url)('image-size/types/jpg') as { JPG: typeof JpegReader };

/** What sharp's `metadata()` would say of a JPEG's geometry. */
export interface JpegGeometry {
  readonly width: number;
  readonly height: number;
  /** EXIF orientation, 1 (upright) when the file has none. */
  readonly orientation: number;
}

/** The geometry of `bytes` when they are a JPEG whose header reads cleanly, else undefined. */
export function readJpegGeometry(bytes: Uint8Array): JpegGeometry | undefined {
  try {
    if (!JPG.validate(bytes)) return undefined;
    // The reader starts with `slice(4)`: on a plain Uint8Array (what a handler thread is given)
    // that copies the whole file, 200 KB for a camera photo, and the garbage brings full GCs
    // nearer. A Buffer over the same memory slices without copying.
    const { width, height, orientation = 1 } = JPG.calculate(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    if (!Number.isInteger(width) || !Number.isInteger(height) || width! <= 0 || height! <= 0) return undefined;
    if (!Number.isInteger(orientation) || orientation < 1 || orientation > 8) return undefined;
    return { width: width!, height: height!, orientation };
  } catch {
    return undefined;
  }
}
