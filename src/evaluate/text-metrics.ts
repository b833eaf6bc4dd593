/**
 * Task metrics for OCR-style models, used to compare an FP32 model with its quantized copy on
 * the same labelled samples: character and line accuracy of recognized text, classification
 * accuracy, detection precision/recall/F1 by box overlap, and the paired right/wrong counts
 * that tell whether two models' difference on the same items is more than chance.
 */
import { KilnError } from '../core/errors.js';

function checkSameLength(a: { length: number }, b: { length: number }, what: string): void {
  if (a.length !== b.length) {
    throw new KilnError('KILN_CORE_INVALID_ARGUMENT', `${what}: ${a.length} items against ${b.length}`, {
      details: { first: a.length, second: b.length },
    });
  }
}

/**
 * Levenshtein distance (insertions, deletions and substitutions, each costing 1) between two
 * strings, counted in Unicode code points so a character outside the BMP is one edit, not two.
 * @example editDistance('kitten', 'sitting') // 3
 */
export function editDistance(reference: string, hypothesis: string): number {
  const a = Array.from(reference);
  const b = Array.from(hypothesis);
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  let current = new Array<number>(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    current[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
    }
    [previous, current] = [current, previous];
  }
  return previous[b.length]!;
}

/** A reference text and what a model read. */
export interface TextPair {
  readonly reference: string;
  readonly hypothesis: string;
}

/** Text accuracy over a set of lines. */
export interface TextScore {
  readonly lines: number;
  /** Lines read exactly right. */
  readonly exactLines: number;
  /** Code points in all references. */
  readonly referenceChars: number;
  /** Sum of the per-line edit distances. */
  readonly edits: number;
  /**
   * `1 − Σ edits / Σ reference length`: pooled over the set, so long lines weigh more. Below 0
   * when the model adds more than it gets right; NaN when the references hold no characters.
   */
  readonly characterAccuracy: number;
  /** `exactLines / lines`; NaN for no lines. */
  readonly lineAccuracy: number;
}

/**
 * Scores recognized text against references. Strings are compared as given: callers trim or
 * normalize both sides first if they mean to.
 * @example scoreText([{ reference: 'abc', hypothesis: 'abd' }, { reference: 'x', hypothesis: 'x' }])
 * // characterAccuracy 0.75, lineAccuracy 0.5
 */
export function scoreText(pairs: Iterable<TextPair>): TextScore {
  let lines = 0;
  let exactLines = 0;
  let referenceChars = 0;
  let edits = 0;
  for (const { reference, hypothesis } of pairs) {
    lines++;
    if (reference === hypothesis) exactLines++;
    referenceChars += Array.from(reference).length;
    edits += editDistance(reference, hypothesis);
  }
  return {
    lines,
    exactLines,
    referenceChars,
    edits,
    characterAccuracy: referenceChars === 0 ? Number.NaN : 1 - edits / referenceChars,
    lineAccuracy: lines === 0 ? Number.NaN : exactLines / lines,
  };
}

/**
 * Share of predictions equal to the truth (class indices or names); NaN for no items.
 * @throws KilnError `KILN_CORE_INVALID_ARGUMENT` when the two lists differ in length.
 */
export function classificationAccuracy<T>(truth: ArrayLike<T>, predicted: ArrayLike<T>): number {
  checkSameLength(truth, predicted, 'classification accuracy');
  let right = 0;
  for (let index = 0; index < truth.length; index++) if (truth[index] === predicted[index]) right++;
  return truth.length === 0 ? Number.NaN : right / truth.length;
}

/** An axis-aligned box in pixels: left, top, right, bottom (right and bottom exclusive). */
export type Box = readonly [x0: number, y0: number, x1: number, y1: number];

/**
 * The axis-aligned bounding box of a polygon (e.g. a detector's rotated quad). Detection is
 * scored on these boxes, which is exact for horizontal text and generous for tilted text.
 */
export function boundingBox(points: readonly (readonly [number, number])[]): Box {
  const xs = points.map((point) => point[0]);
  const ys = points.map((point) => point[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

/** Intersection over union of two boxes; 0 when either is empty (no 0/0). */
export function boxIou(a: Box, b: Box): number {
  const width = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const height = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  const intersection = width > 0 && height > 0 ? width * height : 0;
  const area = (box: Box) => Math.max(0, box[2] - box[0]) * Math.max(0, box[3] - box[1]);
  const union = area(a) + area(b) - intersection;
  return union > 0 ? intersection / union : 0;
}

/** One truth box paired with one found box. */
export interface BoxMatch {
  readonly truth: number;
  readonly found: number;
  readonly iou: number;
}

/** The overlap a found box needs to count as finding a truth box. @defaultValue 0.5 */
export const DETECTION_MIN_IOU = 0.5;

/**
 * Greedy one-to-one matching: every (truth, found) pair with IoU ≥ `minIou` is considered
 * from the highest IoU down (ties by truth index, then found index), and a pair is taken when
 * neither box is taken yet. A found box covering two truth lines thus finds only one of them.
 */
export function matchBoxes(truth: readonly Box[], found: readonly Box[], minIou = DETECTION_MIN_IOU): BoxMatch[] {
  const candidates: BoxMatch[] = [];
  truth.forEach((t, ti) => found.forEach((f, fi) => {
    const iou = boxIou(t, f);
    if (iou >= minIou) candidates.push({ truth: ti, found: fi, iou });
  }));
  candidates.sort((p, q) => q.iou - p.iou || p.truth - q.truth || p.found - q.found);
  const usedTruth = new Set<number>();
  const usedFound = new Set<number>();
  const matches: BoxMatch[] = [];
  for (const candidate of candidates) {
    if (usedTruth.has(candidate.truth) || usedFound.has(candidate.found)) continue;
    usedTruth.add(candidate.truth);
    usedFound.add(candidate.found);
    matches.push(candidate);
  }
  return matches;
}

/** Detection counts and rates over a set of images. */
export interface DetectionScore {
  readonly truePositives: number;
  readonly falsePositives: number;
  readonly falseNegatives: number;
  /** `tp / (tp + fp)`; 1 when nothing was found (no false claims). */
  readonly precision: number;
  /** `tp / (tp + fn)`; 1 when there was nothing to find. */
  readonly recall: number;
  /** Harmonic mean of precision and recall; 0 when both are 0. */
  readonly f1: number;
}

/**
 * Pools matches over images ({@link matchBoxes} per image) into precision, recall and F1.
 * @example scoreDetection([{ truth: [[0, 0, 10, 10]], found: [[1, 0, 10, 10], [50, 50, 60, 60]] }])
 * // tp 1, fp 1, fn 0: precision 0.5, recall 1, f1 0.667
 */
export function scoreDetection(images: Iterable<{ readonly truth: readonly Box[]; readonly found: readonly Box[] }>, minIou = DETECTION_MIN_IOU): DetectionScore {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (const { truth, found } of images) {
    const matched = matchBoxes(truth, found, minIou).length;
    tp += matched;
    fp += found.length - matched;
    fn += truth.length - matched;
  }
  const precision = tp + fp === 0 ? 1 : tp / (tp + fp);
  const recall = tp + fn === 0 ? 1 : tp / (tp + fn);
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { truePositives: tp, falsePositives: fp, falseNegatives: fn, precision, recall, f1 };
}

/** Right/wrong outcomes of two models on the same items, for McNemar's test. */
export interface PairedCounts {
  readonly bothRight: number;
  readonly onlyA: number;
  readonly onlyB: number;
  readonly bothWrong: number;
  /**
   * Two-sided exact McNemar p-value: the chance of a split of the `onlyA + onlyB` discordant
   * items at least this uneven if either model were equally likely to win each. Below 0.05,
   * the difference is unlikely to be luck of the sample.
   */
  readonly pValue: number;
}

/**
 * Exact two-sided McNemar p-value from the discordant counts: `min(1, 2·P(X ≤ min(b, c)))` for
 * X ~ Binomial(b + c, 1/2), summed in log space so thousands of items do not underflow.
 * @example mcnemarExactP(0, 6) // 0.03125
 */
export function mcnemarExactP(onlyA: number, onlyB: number): number {
  const n = onlyA + onlyB;
  const k = Math.min(onlyA, onlyB);
  let logChoose = 0;
  let tail = 0;
  for (let i = 0; i <= k; i++) {
    if (i > 0) logChoose += Math.log(n - i + 1) - Math.log(i);
    tail += Math.exp(logChoose - n * Math.LN2);
  }
  return Math.min(1, 2 * tail);
}

/**
 * Counts the four outcomes of two models on the same items, `a[i]` and `b[i]` saying whether
 * each got item i right.
 * @throws KilnError `KILN_CORE_INVALID_ARGUMENT` when the lists differ in length.
 * @example pairedOutcomes([true, true, false], [true, false, false]) // 1, 1, 0, 1; p 1
 */
export function pairedOutcomes(a: readonly boolean[], b: readonly boolean[]): PairedCounts {
  checkSameLength(a, b, 'paired outcomes');
  let bothRight = 0;
  let onlyA = 0;
  let onlyB = 0;
  let bothWrong = 0;
  a.forEach((right, index) => {
    if (right && b[index]) bothRight++;
    else if (right) onlyA++;
    else if (b[index]) onlyB++;
    else bothWrong++;
  });
  return { bothRight, onlyA, onlyB, bothWrong, pValue: mcnemarExactP(onlyA, onlyB) };
}
