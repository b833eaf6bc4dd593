import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MinMaxCalibrator } from './minmax.js';

describe('MinMaxCalibrator', () => {
  it('keeps the global min and max over all batches', () => {
    const calibrator = new MinMaxCalibrator({ method: 'minmax' });
    calibrator.observe('x', Float32Array.of(0.5, -1, 2));
    calibrator.observe('x', Float32Array.of(1, 1.5));
    calibrator.observe('x', Float32Array.of(-3, 0));
    assert.deepEqual(calibrator.ranges(), new Map([['x', { min: -3, max: 2 }]]));
  });

  it('with a moving average starts at the first batch, then moves by c·(batch − value)', () => {
    const calibrator = new MinMaxCalibrator({ method: 'minmax', movingAverage: 0.5 });
    calibrator.observe('x', Float32Array.of(0, 4)); // min 0, max 4
    calibrator.observe('x', Float32Array.of(-2, 2)); // min −1, max 3
    calibrator.observe('x', Float32Array.of(-4, 10)); // min −2.5, max 6.5
    assert.deepEqual(calibrator.ranges().get('x'), { min: -2.5, max: 6.5 });
  });

  it("forgets an outlier batch with ORT's constant 0.01, unlike the global range", () => {
    const global = new MinMaxCalibrator({ method: 'minmax' });
    const ema = new MinMaxCalibrator({ method: 'minmax', movingAverage: 0.01 });
    for (const calibrator of [global, ema]) {
      calibrator.observe('x', Float32Array.of(-1, 1));
      calibrator.observe('x', Float32Array.of(-1, 100));
      for (let batch = 0; batch < 10; batch++) calibrator.observe('x', Float32Array.of(-1, 1));
    }
    assert.equal(global.ranges().get('x')!.max, 100);
    const max = ema.ranges().get('x')!.max;
    assert.ok(max > 1 && max < 2, `EMA max ${max}`);
  });

  it('skips non-finite values, gives [0, 0] to a tensor with none, and keeps first-seen order', () => {
    const calibrator = new MinMaxCalibrator({ method: 'minmax' });
    calibrator.observe('b', Float32Array.of(NaN, Infinity));
    calibrator.observe('a', Float32Array.of(NaN, 2, -Infinity, 1));
    assert.deepEqual(calibrator.tensors(), ['b', 'a']);
    assert.deepEqual([...calibrator.ranges()], [
      ['b', { min: 0, max: 0 }],
      ['a', { min: 1, max: 2 }],
    ]);
  });

  it('holds a constant number of bytes per tensor whatever the number of batches', () => {
    const calibrator = new MinMaxCalibrator({ method: 'minmax' });
    calibrator.observe('x', new Float32Array(10));
    const one = calibrator.heldBytes();
    for (let batch = 0; batch < 100; batch++) calibrator.observe('x', new Float32Array(1000).fill(batch));
    assert.equal(calibrator.heldBytes(), one);
    assert.equal(calibrator.ranges().get('x')!.max, 99);
  });
});
