import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KilnError } from '../core/errors.js';
import { argmax, maxAbsError, SqnrAccumulator, sqnrDb, thresholdAgreement, top1Agreement } from './fidelity.js';

function near(actual: number, expected: number, what = 'value'): void {
  assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} is not ${expected}`);
}

function isInvalidArgument(error: unknown): boolean {
  return error instanceof KilnError && error.code === 'KILN_CORE_INVALID_ARGUMENT';
}

describe('SQNR', () => {
  it('is 10·log10(Σy² / Σ(y − ŷ)²) in dB', () => {
    // Σy² = 9 + 16 = 25, Σ(y − ŷ)² = 0 + 1 = 1.
    near(sqnrDb([3, 4], [3, 3]), 10 * Math.log10(25));
    near(sqnrDb([10], [9]), 20, 'error a tenth of the signal');
    near(sqnrDb([1, 0, 0, 0], [0, 0, 0, 0]), 0, 'error as large as the signal');
    near(sqnrDb(new Float32Array([2, -2]), new Float32Array([2.5, -1.5])), 10 * Math.log10(8 / 0.5));
  });

  it('pools sums over batches rather than averaging per-batch figures', () => {
    const streamed = new SqnrAccumulator().add([3], [3]).add([4], [3]);
    near(streamed.db(), sqnrDb([3, 4], [3, 3]));
    assert.equal(streamed.count, 2);
    // Per-batch dB would be Infinity and 12.04; their mean is not the pooled 13.98.
    assert.notEqual(streamed.db(), (Infinity + 10 * Math.log10(16)) / 2);
  });

  it('is Infinity for identical outputs, -Infinity for a silent reference, NaN for nothing', () => {
    assert.equal(sqnrDb([1, -2, 3], [1, -2, 3]), Infinity);
    assert.equal(sqnrDb([0, 0], [0, 1]), -Infinity);
    assert.ok(Number.isNaN(new SqnrAccumulator().db()));
    assert.equal(sqnrDb([0, 0], [0, 0]), Infinity, 'no noise at all');
  });

  it('tracks the largest absolute error, and lets a NaN through', () => {
    const acc = new SqnrAccumulator().add([1, -2, 3], [1.5, -2, 0]).add([10], [9]);
    assert.equal(acc.maxAbsError, 3);
    assert.equal(maxAbsError([0, 0], [-4, 2]), 4);
    assert.equal(maxAbsError([], []), 0);
    assert.ok(Number.isNaN(maxAbsError([1, 2], [1, Number.NaN])));
  });

  it('refuses outputs of different lengths', () => {
    assert.throws(() => new SqnrAccumulator().add([1, 2], [1]), isInvalidArgument);
  });
});

describe('top-1 agreement', () => {
  it('counts rows whose argmax is the same, the first index winning ties', () => {
    const reference = [0.1, 0.9, 0.8, 0.2, 0.5, 0.5];
    const test = [0.2, 0.7, 0.3, 0.6, 0.5, 0.5];
    assert.deepEqual(top1Agreement(reference, test, 2), { agree: 2, total: 3 });
    assert.deepEqual(top1Agreement([1, 2, 3, 3, 2, 1], [0, 0, 9, 0, 9, 0], 3), { agree: 1, total: 2 });
  });

  it('finds the argmax within a row', () => {
    assert.equal(argmax([5, 1, 7, 7, 2]), 2);
    assert.equal(argmax([5, 1, 7, 7, 9], 1, 3), 1, 'offset 1, length 3 sees [1, 7, 7]');
    assert.equal(argmax([-3, -1, -2]), 1);
  });

  it('refuses values that are not whole rows or lengths that differ', () => {
    assert.throws(() => top1Agreement([1, 2, 3], [1, 2, 3], 2), isInvalidArgument);
    assert.throws(() => top1Agreement([1, 2], [1, 2, 3, 4], 2), isInvalidArgument);
    assert.throws(() => top1Agreement([1, 2], [1, 2], 0), isInvalidArgument);
  });
});

describe('threshold agreement', () => {
  it('counts elements on the same side of the threshold, equal counting as below', () => {
    // 0.1|0.2 both below; 0.3 (not above) | 0.31 above; 0.5 above | 0.2 below; 0.9|0.9 above.
    assert.deepEqual(thresholdAgreement([0.1, 0.3, 0.5, 0.9], [0.2, 0.31, 0.2, 0.9], 0.3), { agree: 2, total: 4 });
  });
});
