import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { sharp } from '../image/sharp.js';
import { demoAssetsMissing } from './default-models.js';

/** The DejaVu Sans font of the `dejavu-fonts-ttf` package: text renders the same on every machine. */
export function demoFontPath(): string {
  let manifest: string;
  try {
    manifest = createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json');
  } catch (error) {
    throw demoAssetsMissing('the DejaVu font of dejavu-fonts-ttf', error);
  }
  return join(dirname(manifest), 'ttf', 'DejaVuSans.ttf');
}

/** Black text on a white page with a margin, for the demo's OCR request (a small margin gives a line crop). */
export async function renderDemoPage(
  lines: readonly string[],
  options: { fontSize?: number; rotate180?: boolean; /** White border in pixels. @defaultValue 0.8 × fontSize */ margin?: number } = {},
): Promise<Buffer> {
  const text = lines.map((line) => line.replace(/&/g, '&amp;').replace(/</g, '&lt;')).join('\n');
  const fontSize = options.fontSize ?? 28;
  const ink = await sharp({
    text: { text, font: `DejaVu Sans ${fontSize}`, fontfile: demoFontPath(), dpi: 72, rgba: true, spacing: Math.round(fontSize * 0.6) },
  })
    .png()
    .toBuffer();
  // Flatten first, then pad: sharp would otherwise reorder the two operations.
  const flat = await sharp(ink).flatten({ background: '#ffffff' }).png().toBuffer();
  const margin = options.margin ?? Math.round(fontSize * 0.8);
  return sharp(flat)
    .extend({ top: margin, bottom: margin, left: margin, right: margin, background: '#ffffff' })
    .rotate(options.rotate180 ? 180 : 0)
    .png()
    .toBuffer();
}

/** model-config.yaml for PP-OCR's orientation classifier served by `image_classifier`. */
export const CLS_MODEL_CONFIG = [
  'batchSize: 8',
  'maxBatchDelay: 10',
  'handler:',
  '  image: ppocr-cls   # PP-OCR: 48 rows, width by aspect up to 192, zero padding, BGR, mean/std 0.5',
  '  topk: 2',
  '',
].join('\n');

/** index_to_name.json for the two orientations the classifier tells apart. */
export const CLS_LABELS = JSON.stringify({ 0: 'upright', 1: 'upside-down' }, null, 2);
