import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KilnError } from '../../core/errors.js';
import { createRandom, normal } from '../../../test/fixtures/random.js';
import { CALIBRATION_DEFAULTS, CALIBRATION_METHODS, calibrationConfig, createCalibrator, parseCalibrationMethod } from './index.js';
import type { QuantGrid } from './types.js';

const GRIDS: readonly QuantGrid[] = [
  { qmin: 0, qmax: 255, symmetric: false },
  { qmin: -127, qmax: 127, symmetric: true },
];

function invalidArgument(pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof KilnError);
    assert.equal(error.code, 'KILN_CORE_INVALID_ARGUMENT');
    assert.match(error.message, pattern);
    return true;
  };
}

describe('every calibration method', () => {
  for (const method of CALIBRATION_METHODS) {
    describe(method, () => {
      it('answers exactly for constant, zero and single-value tensors, and stays within the data on its zero side', () => {
        const calibrator = createCalibrator(calibrationConfig(method));
        calibrator.observe('constant', new Float32Array(64).fill(1.5));
        calibrator.observe('zeros', new Float32Array(64));
        calibrator.observe('single', Float32Array.of(-4));
        calibrator.observe('relu', normal(createRandom(1), 5000).map((value) => Math.max(0, value)));
        for (const grid of GRIDS) {
          const ranges = calibrator.ranges(grid);
          assert.deepEqual([...ranges.keys()], ['constant', 'zeros', 'single', 'relu']);
          // The quantizer widens every range to hold 0, so [0, c] and [c, c] mean the same.
          assert.equal(Math.max(ranges.get('constant')!.max, 0), 1.5);
          assert.ok(ranges.get('constant')!.min === 1.5 || ranges.get('constant')!.min === 0);
          assert.deepEqual(ranges.get('zeros'), { min: 0, max: 0 });
          assert.equal(Math.min(ranges.get('single')!.min, 0), -4);
          assert.equal(ranges.get('relu')!.min, 0);
          assert.ok(ranges.get('relu')!.max > 0.5);
        }
      });

      it('is deterministic and gives the same ranges for one batch or many', () => {
        const values = normal(createRandom(2), 20_000, 2);
        const whole = createCalibrator(calibrationConfig(method));
        whole.observe('x', values);
        const split = createCalibrator(calibrationConfig(method));
        for (let start = 0; start < values.length; start += 2500) split.observe('x', values.subarray(start, start + 2500));
        const again = createCalibrator(calibrationConfig(method));
        again.observe('x', values);
        for (const grid of GRIDS) {
          assert.deepEqual(again.ranges(grid), whole.ranges(grid));
          assert.deepEqual(split.ranges(grid), whole.ranges(grid));
        }
      });

      it('holds the same bytes however many batches it sees', () => {
        const random = createRandom(3);
        const calibrator = createCalibrator(calibrationConfig(method));
        calibrator.observe('x', normal(random, 1000));
        const held = calibrator.heldBytes();
        for (let batch = 0; batch < 50; batch++) calibrator.observe('x', normal(random, 1000, batch + 1));
        assert.equal(calibrator.heldBytes(), held);
        assert.ok(held <= 2 * 2 * CALIBRATION_DEFAULTS.bins * 8);
      });
    });
  }
});

describe('calibrationConfig and createCalibrator', () => {
  it('fill every default from CALIBRATION_DEFAULTS', () => {
    assert.deepEqual(calibrationConfig(), { method: 'mse', bins: 2048 });
    assert.deepEqual(calibrationConfig('percentile'), { method: 'percentile', percentile: 99.999, bins: 2048 });
    assert.deepEqual(calibrationConfig('entropy', { bins: 1024 }), { method: 'entropy', bins: 1024, levels: 128 });
    assert.deepEqual(calibrationConfig('minmax'), { method: 'minmax' });
    assert.deepEqual(calibrationConfig('minmax', { movingAverage: true }), { method: 'minmax', movingAverage: 0.01 });
    assert.equal(createCalibrator(calibrationConfig()).config.method, CALIBRATION_DEFAULTS.method);
  });

  it('refuse parameters out of range', () => {
    assert.throws(() => createCalibrator({ method: 'mse', bins: 1.5 }), invalidArgument(/bins must be an integer from 2 to 65536, not 1.5/));
    assert.throws(() => createCalibrator({ method: 'percentile', percentile: 0, bins: 2048 }), invalidArgument(/percentile must be in \(0, 100\]/));
    assert.throws(() => createCalibrator({ method: 'entropy', bins: 64, levels: 128 }), invalidArgument(/levels .* \(64\), not 128/));
    assert.throws(() => createCalibrator({ method: 'minmax', movingAverage: 2 }), invalidArgument(/moving-average constant must be in \(0, 1\]/));
  });
});

describe('parseCalibrationMethod', () => {
  it('reads each name, case-insensitively, and two aliases', () => {
    for (const method of CALIBRATION_METHODS) assert.equal(parseCalibrationMethod(method.toUpperCase()), method);
    assert.equal(parseCalibrationMethod('min-max'), 'minmax');
    assert.equal(parseCalibrationMethod(' KL '), 'entropy');
  });

  it('lists the valid names when it does not know one', () => {
    assert.throws(() => parseCalibrationMethod('histogram'), invalidArgument(/'histogram' is not one of mse, minmax, percentile, entropy/));
  });
});
