/**
 * The recognizer's output alphabet and CTC greedy decoding: from per-step class probabilities to
 * a string and a confidence.
 */

/** The recognizer's classes: index 0 is the CTC blank (`''`), then one string per class. */
export type Charset = readonly string[];

/**
 * Builds the class list from a PP-OCR dictionary file (one character per line): the blank at
 * index 0, the file's lines at 1..n, and a space last, which is how PaddleOCR appends it when
 * the model was trained with spaces (the PP-OCR models were).
 */
export function parseCharset(text: string): Charset {
  const lines = text.split(/\r?\n/);
  // A final newline ends the last line; it does not add an empty character.
  if (lines[lines.length - 1] === '') lines.pop();
  return ['', ...lines, ' '];
}

/** A decoded sequence. */
export interface Decoded {
  readonly text: string;
  /** Mean of the winning probabilities of the steps that produced characters; 0 for no text. */
  readonly score: number;
}

/**
 * Greedy (best-path) CTC decoding of one sequence: take the most likely class at each step,
 * merge runs of the same class, and drop blanks. `probs` holds `steps × charset.length` values
 * starting at `offset`, one row per step.
 */
export function ctcGreedyDecode(probs: Float32Array, steps: number, charset: Charset, offset = 0): Decoded {
  const classes = charset.length;
  let text = '';
  let sum = 0;
  let kept = 0;
  let previous = -1;
  for (let step = 0; step < steps; step++) {
    const row = offset + step * classes;
    let best = 0;
    let bestProb = probs[row]!;
    for (let index = 1; index < classes; index++) {
      const prob = probs[row + index]!;
      if (prob > bestProb) {
        best = index;
        bestProb = prob;
      }
    }
    if (best !== 0 && best !== previous) {
      text += charset[best];
      sum += bestProb;
      kept++;
    }
    previous = best;
  }
  return { text, score: kept === 0 ? 0 : sum / kept };
}
