import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { computeQuantParams, dequantizeValue, quantizeValue, quantRange, roundHalfEven } from './math.js';

const U8 = quantRange('uint8');
const S8 = quantRange('int8');
const S8_SYM = quantRange('int8', { symmetric: true });

describe('roundHalfEven', () => {
  it('rounds ties to even, unlike Math.round', () => {
    assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, 63.75, -63.75].map(roundHalfEven), [0, 2, 2, 0, -2, -2, 4, 64, -64]);
    assert.equal(Math.round(2.5), 3, 'the reason this function exists');
    assert.equal(roundHalfEven(2.4999999), 2);
    assert.equal(roundHalfEven(-2.5000001), -3);
  });
});

describe('quantRange', () => {
  it('gives the spec table', () => {
    assert.deepEqual(U8, { qmin: 0, qmax: 255 });
    assert.deepEqual(S8, { qmin: -128, qmax: 127 });
    assert.deepEqual(S8_SYM, { qmin: -127, qmax: 127 });
    assert.deepEqual(quantRange('int8', { reduceRange: true }), { qmin: -64, qmax: 64 });
    assert.deepEqual(quantRange('uint8', { reduceRange: true }), { qmin: 0, qmax: 127 });
  });
});

describe('computeQuantParams (hand-checked cases of spec §1)', () => {
  const cases: [string, number, number, typeof U8, boolean, number, number][] = [
    ['[-1, 3] uint8', -1, 3, U8, false, 0.015686275, 64],
    ['[-1, 3] int8 asymmetric', -1, 3, S8, false, 0.015686275, -64],
    ['[-2.5, 252.5] uint8: zp tie 2.5 goes to even', -2.5, 252.5, U8, false, 1.0, 2],
    ['[-1, 1] uint8: tie 127.5 goes to 128', -1, 1, U8, false, 0.007843138, 128],
    ['[2, 6] all positive: range becomes [0, 6]', 2, 6, U8, false, 0.023529412, 0],
    ['[-6, -2] all negative: range becomes [-6, 0]', -6, -2, U8, false, 0.023529412, 255],
    ['[0, 0] uint8', 0, 0, U8, false, 1, 0],
    ['[0, 0] int8 symmetric', 0, 0, S8_SYM, true, 1, 0],
    ['[-0.2, 0.5] int8 symmetric', -0.2, 0.5, S8_SYM, true, 0.003937008, 0],
    ['[0, 1] softmax uint8', 0, 1, U8, false, 0.003921569, 0],
    ['[0, 1] softmax int8 asymmetric', 0, 1, S8, false, 0.003921569, -128],
  ];
  for (const [label, rmin, rmax, range, symmetric, scale, zeroPoint] of cases) {
    it(label, () => {
      const params = computeQuantParams(rmin, rmax, range, symmetric);
      assert.ok(Math.abs(params.scale - scale) < 5e-9, `scale ${params.scale} vs ${scale}`);
      assert.equal(params.scale, Math.fround(params.scale), 'scale is stored as float32');
      assert.equal(params.zeroPoint, zeroPoint);
    });
  }

  it('computes the zero point from the float64 scale, not the float32 one', () => {
    // 4/255 in float64 gives 63.75 → 64; both agree here, but the scale must be float64 internally:
    const params = computeQuantParams(-1 / 3, 1, U8, false);
    assert.equal(params.zeroPoint, roundHalfEven(0 - -1 / 3 / ((1 + 1 / 3) / 255)));
  });

  it('widens to a minimum real range when asked', () => {
    const params = computeQuantParams(0, 1e-6, U8, false, 1e-4);
    assert.ok(Math.abs(params.scale - 1e-4 / 255) < 1e-12);
  });

  it('treats a range below float32 tiny as constant zero', () => {
    assert.deepEqual(computeQuantParams(0, 1e-40, U8, false), { scale: 1, zeroPoint: 0 });
  });
});

describe('quantizeValue', () => {
  it('rounds half to even with scale 1, zp 0, int8 (spec §1)', () => {
    const params = { scale: 1, zeroPoint: 0 };
    assert.deepEqual(
      [0.5, 1.5, 2.5, -0.5, -1.5, -2.5].map((value) => quantizeValue(value, params, S8)),
      [0, 2, 2, 0, -2, -2],
    );
  });

  it('saturates to the full type range', () => {
    const params = { scale: 0.1, zeroPoint: 10 };
    assert.equal(quantizeValue(1000, params, U8), 255);
    assert.equal(quantizeValue(-1000, params, U8), 0);
  });

  it('round-trips a range endpoint through dequantize', () => {
    const params = computeQuantParams(-1, 3, U8, false);
    assert.equal(quantizeValue(0, params, U8), params.zeroPoint, '0 is exact');
    assert.ok(Math.abs(dequantizeValue(quantizeValue(3, params, U8), params) - 3) <= params.scale / 2 + 1e-7);
  });
});
