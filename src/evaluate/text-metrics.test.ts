import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KilnError } from '../core/errors.js';
import {
  boundingBox,
  boxIou,
  classificationAccuracy,
  editDistance,
  matchBoxes,
  mcnemarExactP,
  pairedOutcomes,
  scoreDetection,
  scoreText,
  type Box,
} from './text-metrics.js';

function near(actual: number, expected: number, what = 'value'): void {
  assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} is not ${expected}`);
}

function isInvalidArgument(error: unknown): boolean {
  return error instanceof KilnError && error.code === 'KILN_CORE_INVALID_ARGUMENT';
}

describe('edit distance', () => {
  const cases: [string, string, number][] = [
    ['kitten', 'sitting', 3],
    ['flaw', 'lawn', 2],
    ['', 'abc', 3],
    ['abc', '', 3],
    ['same', 'same', 0],
    ['中文', '中又', 1],
    ['\u{1D49C}b', 'b', 1], // a character outside the BMP is one edit, not two UTF-16 units
  ];
  for (const [a, b, expected] of cases) it(`is ${expected} from '${a}' to '${b}'`, () => assert.equal(editDistance(a, b), expected));
});

describe('text scores', () => {
  it('pools edits over reference characters, and counts exact lines', () => {
    const score = scoreText([
      { reference: 'abc', hypothesis: 'abd' },
      { reference: 'x', hypothesis: 'x' },
      { reference: 'hello', hypothesis: 'helo' },
    ]);
    assert.deepEqual({ ...score, characterAccuracy: 0, lineAccuracy: 0 }, { lines: 3, exactLines: 1, referenceChars: 9, edits: 2, characterAccuracy: 0, lineAccuracy: 0 });
    near(score.characterAccuracy, 1 - 2 / 9, 'character accuracy');
    near(score.lineAccuracy, 1 / 3, 'line accuracy');
  });

  it('goes below zero when the model invents more than the reference holds, NaN for nothing', () => {
    assert.equal(scoreText([{ reference: 'ab', hypothesis: 'abcdef' }]).characterAccuracy, -1);
    assert.ok(Number.isNaN(scoreText([]).characterAccuracy));
    assert.ok(Number.isNaN(scoreText([]).lineAccuracy));
  });

  it('scores classification as the share of equal labels', () => {
    assert.equal(classificationAccuracy([0, 1, 1, 0], [0, 1, 0, 0]), 0.75);
    assert.equal(classificationAccuracy(['0', '180'], ['0', '180']), 1);
    assert.throws(() => classificationAccuracy([0, 1], [0]), isInvalidArgument);
  });
});

describe('boxes', () => {
  it('computes IoU, 0 for disjoint, touching or empty boxes', () => {
    near(boxIou([0, 0, 10, 10], [5, 0, 15, 10]), 50 / 150);
    assert.equal(boxIou([0, 0, 10, 10], [0, 0, 10, 10]), 1);
    assert.equal(boxIou([0, 0, 10, 10], [10, 0, 20, 10]), 0);
    assert.equal(boxIou([0, 0, 10, 10], [30, 30, 40, 40]), 0);
    assert.equal(boxIou([5, 5, 5, 5], [5, 5, 5, 5]), 0);
    near(boxIou([0, 0, 4, 4], [1, 1, 3, 3]), 4 / 16, 'one inside the other');
  });

  it('reduces a quad to its bounding box', () => {
    assert.deepEqual(boundingBox([[2, 1], [9, 2], [8, 6], [1, 5]]), [1, 1, 9, 6]);
  });

  it('matches greedily from the best overlap down, one to one', () => {
    const truth: Box[] = [[0, 0, 10, 10], [10, 0, 20, 10]];
    // F0 spans both truth boxes (IoU 0.5 with each), F1 is exactly the second one.
    const found: Box[] = [[0, 0, 20, 10], [10, 0, 20, 10]];
    assert.deepEqual(matchBoxes(truth, found), [{ truth: 1, found: 1, iou: 1 }, { truth: 0, found: 0, iou: 0.5 }]);
    // In truth order, truth 0 would take F0 and truth 1 take F1: the same pairs; in found order
    // F0 could have gone to truth 1 and left truth 0 unmatched. Greedy by IoU avoids that.
    assert.deepEqual(matchBoxes([[10, 0, 20, 10], [0, 0, 10, 10]], found).map((m) => [m.truth, m.found]), [[0, 1], [1, 0]]);
  });

  it('lets one box that covers two lines find only one of them, ties going to the first', () => {
    const matches = matchBoxes([[0, 0, 10, 10], [0, 10, 10, 20]], [[0, 0, 10, 20]]);
    assert.deepEqual(matches, [{ truth: 0, found: 0, iou: 0.5 }]);
    assert.deepEqual(matchBoxes([[0, 0, 10, 10]], [[0, 0, 10, 20.1]]), [], 'IoU just below 0.5');
    assert.equal(matchBoxes([[0, 0, 10, 10]], [[0, 0, 10, 20.1]], 0.4).length, 1, 'a lower threshold');
  });

  it('pools precision, recall and F1 over images', () => {
    const score = scoreDetection([
      { truth: [[0, 0, 10, 10]], found: [[1, 0, 10, 10], [50, 50, 60, 60]] },
      { truth: [[0, 0, 10, 10], [0, 20, 10, 30]], found: [[0, 20, 10, 30]] },
    ]);
    assert.deepEqual([score.truePositives, score.falsePositives, score.falseNegatives], [2, 1, 1]);
    near(score.precision, 2 / 3);
    near(score.recall, 2 / 3);
    near(score.f1, 2 / 3);
  });

  it('treats empty sides as no false claims / nothing missed', () => {
    assert.deepEqual(scoreDetection([{ truth: [], found: [] }]), { truePositives: 0, falsePositives: 0, falseNegatives: 0, precision: 1, recall: 1, f1: 1 });
    const missed = scoreDetection([{ truth: [[0, 0, 5, 5]], found: [] }]);
    assert.deepEqual([missed.precision, missed.recall, missed.f1], [1, 0, 0]);
    const invented = scoreDetection([{ truth: [], found: [[0, 0, 5, 5]] }]);
    assert.deepEqual([invented.precision, invented.recall, invented.f1], [0, 1, 0]);
  });
});

describe('paired outcomes (McNemar)', () => {
  it('counts the four cells', () => {
    const counts = pairedOutcomes([true, true, false, false, true], [true, false, true, false, true]);
    assert.deepEqual({ ...counts, pValue: 0 }, { bothRight: 2, onlyA: 1, onlyB: 1, bothWrong: 1, pValue: 0 });
    assert.equal(counts.pValue, 1);
    assert.throws(() => pairedOutcomes([true], []), isInvalidArgument);
  });

  it('gives the exact two-sided binomial p-value of the discordant split', () => {
    near(mcnemarExactP(0, 6), 2 / 64, '0 of 6');
    near(mcnemarExactP(5, 1), (2 * 7) / 64, '1 of 6: (C(6,0) + C(6,1)) / 2^6, doubled');
    assert.equal(mcnemarExactP(3, 3), 1);
    assert.equal(mcnemarExactP(0, 0), 1);
    // 100 vs 140: the continuity-corrected chi-square gives 0.0118; the exact test agrees closely.
    const p = mcnemarExactP(100, 140);
    assert.ok(p > 0.009 && p < 0.015, `p ${p}`);
  });
});
