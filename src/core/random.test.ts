import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from './random.js';

function draw(seed: number, count: number): number[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => random());
}

describe('seededRandom', () => {
  it('gives the same sequence for the same seed', () => {
    assert.deepEqual(draw(42, 100), draw(42, 100));
    assert.deepEqual(draw(0, 10), draw(0, 10));
  });

  it('gives different sequences for different seeds', () => {
    assert.notDeepEqual(draw(1, 10), draw(2, 10));
    assert.notDeepEqual(draw(0, 10), draw(1, 10));
  });

  it('keeps independent generators independent', () => {
    const a = seededRandom(9);
    const b = seededRandom(9);
    const first = a();
    a();
    a();
    assert.equal(b(), first, 'drawing from one does not advance the other');
  });

  it('stays in [0, 1) and does not repeat itself', () => {
    const values = draw(7, 10_000);
    assert.ok(values.every((value) => value >= 0 && value < 1));
    assert.ok(new Set(values).size > 9_990);
  });

  it('is roughly uniform', () => {
    const values = draw(123, 10_000);
    const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
    assert.ok(Math.abs(mean - 0.5) < 0.02, `mean ${mean}`);
    const variance = values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / values.length;
    assert.ok(Math.abs(variance - 1 / 12) < 0.005, `variance ${variance}`);
    const buckets = new Array<number>(10).fill(0);
    for (const value of values) buckets[Math.floor(value * 10)]!++;
    assert.ok(buckets.every((count) => count > 900 && count < 1100), `buckets ${buckets.join(', ')}`);
  });
});
