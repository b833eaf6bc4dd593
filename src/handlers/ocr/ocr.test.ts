import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { ppOcrAssetsDir } from '../../cli/default-models.js';
import { KilnError } from '../../core/errors.js';
import { seededRandom } from '../../core/random.js';
import { Engine } from '../../runtime/engine.js';
import { randomWords, renderLine, renderPage, type Box } from '../../../test/fixtures/render-text.js';
import { classifyOrientation, orientationTiles, uprightCrops } from './classify.js';
import { cropQuad, cropTextLine } from './crop.js';
import { ctcGreedyDecode, parseCharset } from './ctc.js';
import { boxesFromProbabilities, detectPreprocess } from './detect.js';
import { planResize } from '../../image/index.js';
import { convexHull, expandRect, minAreaRect, readingOrder, rectCorners, unclipDistance, type RotatedRect } from './geometry.js';
import { rotate180 } from './pixels.js';
import { recognizeCrops } from './recognize.js';
import { decodeRequestImage as decodeImage } from '../request-image.js';
import { loadOcrPipeline } from './pipeline.js';
import type { OcrLine, OcrPipeline, Point, Quad, RgbImage } from './types.js';
import { levenshtein } from '../../../test/fixtures/text-metrics.js';

const ASSETS = ppOcrAssetsDir();
const MODELS = {
  detPath: join(ASSETS, 'ch_PP-OCRv4_det_infer.onnx'),
  clsPath: join(ASSETS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
  recPath: join(ASSETS, 'ch_PP-OCRv4_rec_infer.onnx'),
  keysPath: join(ASSETS, 'ppocr_keys_v1.txt'),
};

function near(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} is not within ${tolerance} of ${expected}`);
}

function boundsOf(box: OcrLine['box']): Box {
  const xs = box.map((point) => point[0]);
  const ys = box.map((point) => point[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

function iou(a: Box, b: Box): number {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const area = (box: Box) => (box[2] - box[0]) * (box[3] - box[1]);
  return (w * h) / (area(a) + area(b) - w * h);
}

/**
 * Pairs each truth line with the recognized line over it (best box overlap, at least 0.3) and
 * scores 1 - edit distance / truth characters; recognized lines matching no truth line count
 * as insertions. Returns the accuracy and the recognized index matched to each truth line.
 */
function characterAccuracy(truth: readonly { text: string; box: Box }[], found: readonly OcrLine[]): { accuracy: number; matched: number[] } {
  const used = new Set<number>();
  let errors = 0;
  let total = 0;
  const matched = truth.map((line) => {
    let best = -1;
    let bestOverlap = 0.3;
    found.forEach((candidate, index) => {
      const overlap = iou(line.box, boundsOf(candidate.box));
      if (!used.has(index) && overlap >= bestOverlap) [best, bestOverlap] = [index, overlap];
    });
    if (best >= 0) used.add(best);
    errors += levenshtein(line.text, found[best]?.text ?? '');
    total += line.text.length;
    return best;
  });
  found.forEach((line, index) => (errors += used.has(index) ? 0 : line.text.length));
  return { accuracy: 1 - errors / total, matched };
}

function eightLines(seed: number): string[] {
  const random = seededRandom(seed);
  return Array.from({ length: 8 }, () => randomWords(random, 2 + Math.floor(random() * 3)).join(' '));
}

describe('ocr pipeline on PP-OCR models', () => {
  let ocr: OcrPipeline;
  before(async () => {
    ocr = await loadOcrPipeline({ ...MODELS, threads: 2 });
  });
  after(async () => {
    await ocr?.close();
  });

  it('reads a rendered page with at least 95% character accuracy, in reading order', async (t) => {
    const page = await renderPage({ lines: eightLines(11), seed: 11, width: 560 });
    const lines = await ocr.recognize(page.png);
    const { accuracy, matched } = characterAccuracy(page.lines, lines);
    t.diagnostic(`character accuracy ${(accuracy * 100).toFixed(2)}% over ${page.lines.length} lines`);
    assert.ok(accuracy >= 0.95, `accuracy ${accuracy}: ${JSON.stringify(lines.map((line) => line.text))}`);
    assert.deepEqual(matched, page.lines.map((_, index) => index), 'lines come out top to bottom');
    for (const line of lines) {
      assert.ok(line.score > 0.5 && line.score <= 1);
      const [tl, tr, br, bl] = line.box;
      assert.ok(tl[0] < tr[0] && bl[0] < br[0] && tl[1] < bl[1] && tr[1] < br[1], `box ${JSON.stringify(line.box)} is clockwise from top-left`);
    }
  });

  it('reads a page turned upside down, the classifier turning each line back', async (t) => {
    const page = await renderPage({ lines: eightLines(12), seed: 12, width: 560, rotate180: true });
    const lines = await ocr.recognize(page.png);
    const { accuracy } = characterAccuracy(page.lines, lines);
    t.diagnostic(`character accuracy upside down ${(accuracy * 100).toFixed(2)}%`);
    assert.ok(accuracy >= 0.95, `accuracy ${accuracy}: ${JSON.stringify(lines.map((line) => line.text))}`);
  });

  it('returns no lines for a blank page', async () => {
    const blank = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#ffffff' } }).png().toBuffer();
    assert.deepEqual(await ocr.recognize(blank), []);
  });

  it('rejects bytes that are not an image with KILN_HANDLER_INPUT_INVALID', async () => {
    await assert.rejects(ocr.recognize(new TextEncoder().encode('not an image at all')), (error: unknown) => {
      assert.ok(error instanceof KilnError);
      assert.equal(error.code, 'KILN_HANDLER_INPUT_INVALID');
      return true;
    });
  });

  it('refuses a character list that does not fit the recognizer', async () => {
    const keysPath = join(ASSETS, '..', 'package.json');
    await assert.rejects(loadOcrPipeline({ ...MODELS, keysPath, threads: 1 }), { code: 'KILN_HANDLER_LOAD_FAILED' });
  });
});

describe('orientation classifier', () => {
  it("labels rendered lines '0' and their 180° turns '180', and turns those back", async () => {
    const engine = await Engine.load(MODELS.clsPath, { intraOpThreads: 2 });
    try {
      const random = seededRandom(5);
      // Two to four words, and a line of twelve (13:1) that only tiling classifies right.
      const texts = [2, 4, 12].map((count) => randomWords(random, count).join(' '));
      const crops: RgbImage[] = [];
      for (const text of texts) {
        for (const turned of [false, true]) crops.push(await decodeImage((await renderLine({ text, fontSize: 32, rotate180: turned })).png));
      }
      const results = await classifyOrientation(engine, crops);
      assert.deepEqual(results.map((result) => result.label), ['0', '180', '0', '180', '0', '180']);
      const upright = await uprightCrops(engine, crops);
      for (let index = 0; index < crops.length; index += 2) {
        assert.strictEqual(upright[index], crops[index], 'an upright line is left alone');
        assert.deepEqual(upright[index + 1], rotate180(crops[index + 1]!), 'an upside-down line is turned');
        assert.deepEqual(upright[index + 1]!.data, crops[index]!.data, 'turning restores the rendered line');
      }
    } finally {
      await engine.release();
    }
  });
});

describe('recognition batching', () => {
  it('runs each crop alone at its own width, returning results in the order of the crops', async () => {
    // A stand-in recognizer that records what it is fed and answers one class per step.
    const charset = parseCharset('a\nb\n');
    const fed: number[][] = [];
    const engine = {
      label: 'recording',
      async run(feeds: Record<string, { dims: readonly number[] }>) {
        const dims = [...feeds['x']!.dims];
        fed.push(dims);
        const [n = 1, , , w = 0] = dims;
        const steps = Math.ceil(w / 8);
        // Every other step reads 'a' (blanks between), so a crop's text length tells its width.
        const data = new Float32Array(n * steps * charset.length);
        for (let step = 0; step < steps; step += 2) data[step * charset.length + 1] = 1;
        return { out: { type: 'float32', dims: [n, steps, charset.length], data } };
      },
    } as unknown as Engine;
    const crop = (width: number): RgbImage => ({ width, height: 32, data: new Uint8Array(width * 32 * 3).fill(255) });
    const crops = [crop(900), crop(200), crop(600)];
    const read = await recognizeCrops(engine, crops, charset);
    // Shortest first (sorted by aspect), one crop per run, each no wider than its own 48-row width.
    assert.deepStrictEqual(fed, [[1, 3, 48, 320], [1, 3, 48, 900], [1, 3, 48, 1350]]);
    assert.deepStrictEqual(read.map((decoded) => decoded.text.length), [1350, 320, 900].map((width) => Math.ceil(Math.ceil(width / 8) / 2)));
  });
});

describe('CTC greedy decoding', () => {
  const charset = ['', 'a', 'b', ' '];
  /** One row per step: the winning class gets `p`, the rest share what is left. */
  function rows(steps: readonly [cls: number, p: number][]): Float32Array {
    const probs = new Float32Array(steps.length * charset.length);
    steps.forEach(([cls, p], step) => {
      for (let index = 0; index < charset.length; index++) probs[step * charset.length + index] = index === cls ? p : (1 - p) / (charset.length - 1);
    });
    return probs;
  }

  it('merges repeats, drops blanks, keeps a letter repeated across a blank', () => {
    const probs = rows([[1, 0.9], [1, 0.5], [0, 0.8], [1, 0.7], [3, 0.6], [2, 1], [2, 0.4], [0, 0.9]]);
    const decoded = ctcGreedyDecode(probs, 8, charset);
    assert.equal(decoded.text, 'aa b');
    near(decoded.score, (0.9 + 0.7 + 0.6 + 1) / 4, 1e-6, 'score is the mean of the first step of each kept run');
  });

  it('gives empty text and score 0 for all blanks, and reads from an offset', () => {
    assert.deepEqual(ctcGreedyDecode(rows([[0, 0.9], [0, 0.9]]), 2, charset), { text: '', score: 0 });
    const two = rows([[0, 0.9], [2, 0.8], [1, 0.6]]);
    assert.equal(ctcGreedyDecode(two, 2, charset, charset.length).text, 'ba');
  });

  it('builds the class list as blank, the file lines, then space', () => {
    assert.deepEqual(parseCharset('a\nb\n'), ['', 'a', 'b', ' ']);
    assert.deepEqual(parseCharset('a\r\nb'), ['', 'a', 'b', ' ']);
    assert.equal(parseCharset(readFileSync(MODELS.keysPath, 'utf8')).length, 6625, 'the recognizer has 6625 classes');
  });
});

describe('box geometry', () => {
  /** The four corners and a grid of inner points of a rectangle. */
  function filledRect(rect: RotatedRect): Point[] {
    const points: Point[] = [...rectCorners(rect)];
    const [tl, tr, , bl] = rectCorners(rect);
    for (let s = 0.1; s < 1; s += 0.2) {
      for (let t = 0.1; t < 1; t += 0.2) points.push([tl[0] + (tr[0] - tl[0]) * s + (bl[0] - tl[0]) * t, tl[1] + (tr[1] - tl[1]) * s + (bl[1] - tl[1]) * t]);
    }
    return points;
  }

  it('finds the hull of a square with inner points', () => {
    const hull = convexHull([[0, 0], [4, 0], [4, 4], [0, 4], [2, 2], [1, 3], [2, 0]]);
    assert.deepEqual(new Set(hull.map((point) => point.join())), new Set(['0,0', '4,0', '4,4', '0,4']));
  });

  it('fits an axis-aligned rectangle exactly', () => {
    const rect = minAreaRect(filledRect({ cx: 15, cy: 8, width: 20, height: 6, angle: 0 }));
    for (const [key, value] of Object.entries({ cx: 15, cy: 8, width: 20, height: 6, angle: 0 })) near(rect[key as keyof RotatedRect], value, 1e-9, key);
  });

  it('fits rectangles turned by 30° and by 60° (the latter reported as -30° with sides swapped)', () => {
    const at30 = minAreaRect(filledRect({ cx: 40, cy: 30, width: 24, height: 8, angle: Math.PI / 6 }));
    for (const [key, value] of Object.entries({ cx: 40, cy: 30, width: 24, height: 8, angle: Math.PI / 6 })) near(at30[key as keyof RotatedRect], value, 1e-9, key);
    const at60 = minAreaRect(filledRect({ cx: 40, cy: 30, width: 24, height: 8, angle: Math.PI / 3 }));
    for (const [key, value] of Object.entries({ cx: 40, cy: 30, width: 8, height: 24, angle: -Math.PI / 6 })) near(at60[key as keyof RotatedRect], value, 1e-9, key);
  });

  it('unclips by area × ratio / perimeter on every side', () => {
    near(unclipDistance(100, 10, 1.5), (1000 * 1.5) / 220, 1e-12, 'distance');
    assert.equal(unclipDistance(0, 0, 1.5), 0);
    const grown = expandRect({ cx: 5, cy: 5, width: 100, height: 10, angle: 0.2 }, 3);
    assert.deepEqual(grown, { cx: 5, cy: 5, width: 106, height: 16, angle: 0.2 });
  });

  it('turns a probability map into grown boxes, dropping faint and tiny regions', () => {
    const [width, height] = [64, 32];
    const prob = new Float32Array(width * height);
    const fill = (x0: number, y0: number, x1: number, y1: number, p: number) => {
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) prob[y * width + x] = p;
    };
    fill(10, 10, 50, 18, 0.9); // a line: 40 × 8 pixels
    fill(5, 25, 25, 29, 0.4); // above the binary threshold, below the box threshold
    fill(55, 2, 57, 4, 0.95); // too small
    const boxes = boxesFromProbabilities(prob, width, height);
    assert.equal(boxes.length, 1);
    const [box] = boxes;
    near(box!.score, 0.9, 1e-6, 'score');
    // Pixel centres span 39 × 7; the unclip distance of that rectangle is added on each side.
    const d = unclipDistance(39, 7, 1.5);
    const expected: Quad = [[10.5 - d, 10.5 - d], [49.5 + d, 10.5 - d], [49.5 + d, 17.5 + d], [10.5 - d, 17.5 + d]];
    box!.box.forEach((point, index) => point.forEach((value, axis) => near(value, expected[index]![axis]!, 1e-9, `corner ${index}`)));
  });

  it('sizes the detector input to multiples of 32 within the longer-side limit', () => {
    const size = (width: number, height: number) => {
      const plan = planResize(detectPreprocess(960).resize, width, height);
      return { width: plan.outWidth, height: plan.outHeight };
    };
    assert.deepEqual(size(1280, 720), { width: 960, height: 544 });
    assert.deepEqual(size(100, 50), { width: 96, height: 64 });
    assert.deepEqual(size(10, 10), { width: 32, height: 32 });
    assert.deepEqual(planResize(detectPreprocess(640).resize, 1280, 720).outWidth, 640);
  });

  it('orders boxes by rows, then left to right', () => {
    const at = (x: number, y: number, name: string) => ({ name, box: [[x, y], [x + 40, y], [x + 40, y + 10], [x, y + 10]] as Quad });
    const order = readingOrder([at(100, 52, 'd'), at(0, 2, 'a'), at(100, 0, 'b'), at(0, 50, 'c')]);
    assert.deepEqual(order.map((item) => item.name), ['a', 'b', 'c', 'd']);
  });

  it('cuts a long crop into pieces no wider than 4:1 that cover it', () => {
    const crop: RgbImage = { width: 500, height: 40, data: new Uint8Array(500 * 40 * 3) };
    const tiles = orientationTiles(crop);
    assert.equal(tiles.length, 4);
    assert.equal(tiles.reduce((sum, tile) => sum + tile.width, 0), 500);
    for (const tile of tiles) assert.ok(tile.width / tile.height <= 4 && tile.height === 40);
    assert.deepEqual(orientationTiles({ width: 160, height: 40, data: new Uint8Array(160 * 40 * 3) }).length, 1);
  });

  it('crops a line with room around it, and turns vertical text a quarter', () => {
    const image: RgbImage = { width: 200, height: 200, data: new Uint8Array(200 * 200 * 3) };
    const line = cropTextLine(image, [[50, 50], [150, 50], [150, 70], [50, 70]]);
    assert.deepEqual([line.width, line.height], [106, 30], '0.15 line heights along, 0.25 across, on each side');
    const column = cropTextLine(image, [[50, 50], [70, 50], [70, 150], [50, 150]]);
    assert.deepEqual([column.width, column.height], [106, 30], 'a tall box comes out lying down');
  });

  it('crops an axis-aligned quad to exactly the pixels inside it', () => {
    const [width, height] = [8, 6];
    const data = new Uint8Array(width * height * 3).map((_, index) => index % 251);
    const crop = cropQuad({ width, height, data }, [[2, 1], [6, 1], [6, 4], [2, 4]]);
    assert.equal(crop.width, 4);
    assert.equal(crop.height, 3);
    for (let y = 0; y < 3; y++) {
      const row = data.subarray(((y + 1) * width + 2) * 3, ((y + 1) * width + 6) * 3);
      assert.deepEqual(crop.data.subarray(y * 12, (y + 1) * 12), row);
    }
  });
});
