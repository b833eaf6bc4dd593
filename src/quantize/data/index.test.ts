import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { TensorSignature } from '../../runtime/feeds.js';
import { checkSampleAgainst, openCalibrationSource, parseImagePreprocess, type Feeds } from './index.js';
import { rejectsWith } from '../../../test/fixtures/errors.js';

const scratch = mkdtempSync(join(tmpdir(), 'kiln-calib-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A one-dimensional float32 .npy file (format 1.0). */
function npy(values: readonly number[]): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${values.length},), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const head = Buffer.from([0x93, ...Buffer.from('NUMPY'), 1, 0, 0, 0]);
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(Float32Array.from(values).buffer)]);
}


const dir = (name: string): string => join(scratch, name);
const IMAGE = parseImagePreprocess('resize=stretch:4x4');

before(async () => {
  mkdirSync(dir('images'));
  await sharp({ create: { width: 8, height: 6, channels: 3, background: '#336699' } }).png().toFile(join(dir('images'), 'a.png'));
  mkdirSync(dir('npy'));
  writeFileSync(join(dir('npy'), '0.npy'), npy([1, 2]));
  mkdirSync(join(dir('per-input'), 'x'), { recursive: true });
  writeFileSync(join(dir('per-input'), 'x', '0.npy'), npy([3]));
  mkdirSync(dir('empty'));
  mkdirSync(dir('mixed'));
  writeFileSync(join(dir('mixed'), 'a.npy'), npy([1]));
  await sharp({ create: { width: 2, height: 2, channels: 3, background: '#000' } }).jpeg().toFile(join(dir('mixed'), 'b.jpg'));
  mkdirSync(dir('other'));
  writeFileSync(join(dir('other'), 'data.csv'), '1,2,3');
  writeFileSync(dir('calib.mjs'), "export default [{ x: { type: 'float32', dims: [1], data: new Float32Array([5]) } }];");
  writeFileSync(dir('data.csv'), '1,2');
});

async function first(path: string, options = {}): Promise<Feeds> {
  for await (const feeds of openCalibrationSource(path, options).samples()) return feeds;
  throw new Error('no sample');
}

describe('openCalibrationSource', () => {
  it('picks the source by what the path is', async () => {
    assert.deepEqual((await first(dir('images'), { input: 'img', preprocess: IMAGE }))['img']!.dims, [1, 3, 4, 4]);
    assert.deepEqual((await first(dir('npy'), { input: 'x' }))['x']!.data, Float32Array.of(1, 2));
    assert.deepEqual((await first(dir('per-input')))['x']!.data, Float32Array.of(3));
    assert.deepEqual((await first(dir('calib.mjs')))['x']!.data, Float32Array.of(5));
    assert.equal(openCalibrationSource(dir('images'), { input: 'img', preprocess: IMAGE }).description, `1 image in ${dir('images')}`);
  });

  it('explains an empty folder, an unknown kind, a mixed folder and missing options', () => {
    const invalid = (pattern: RegExp) => rejectsWith('KILN_QUANTIZE_CALIBRATION_INVALID', pattern);
    assert.throws(() => openCalibrationSource(dir('empty')), invalid(/empty: the calibration folder is empty; give a folder of images \(\.png/));
    assert.throws(() => openCalibrationSource(dir('other')), invalid(/other: holds none of a folder of images/));
    assert.throws(() => openCalibrationSource(dir('data.csv')), invalid(/data\.csv: kiln cannot calibrate from this file; give .* or a module \(\.js, \.mjs/));
    assert.throws(() => openCalibrationSource(dir('mixed')), invalid(/holds both images \(1\) and \.npy files \(1\); keep one kind per folder/));
    assert.throws(() => openCalibrationSource(dir('images'), { preprocess: IMAGE }), invalid(/a folder of images needs the name of the input it feeds/));
    assert.throws(() => openCalibrationSource(dir('images'), { input: 'x' }), invalid(/a folder of images needs a preprocessing description/));
    assert.throws(() => openCalibrationSource(dir('missing')), rejectsWith('KILN_IO_NOT_FOUND', /missing: cannot read the calibration data/));
    assert.throws(() => openCalibrationSource(dir('npy'), { input: 'x', limit: 0 }), rejectsWith('KILN_CORE_INVALID_ARGUMENT', /positive integer, not 0/));
  });
});

describe('checkSampleAgainst', () => {
  const signature: TensorSignature[] = [
    { name: 'x', type: 'float32', shape: ['batch', 3, 224] },
    { name: 'mask', type: 'int64', shape: [1, undefined] },
  ];
  const good: Feeds = {
    x: { type: 'float32', dims: [2, 3, 224], data: new Float32Array(2 * 3 * 224) },
    mask: { type: 'int64', dims: [1, 7], data: new BigInt64Array(7) },
  };

  it('accepts a sample that fits, whatever the symbolic and unknown dims', () => {
    checkSampleAgainst(signature, good, 0);
  });

  it('gives one precise message for each kind of mismatch', () => {
    const invalid = (pattern: RegExp) => rejectsWith('KILN_QUANTIZE_CALIBRATION_INVALID', pattern);
    const { mask: _mask, ...withoutMask } = good;
    assert.throws(() => checkSampleAgainst(signature, withoutMask, 3), invalid(/^calibration sample 3: input 'mask' is missing \(the model's inputs: 'x', 'mask'\)$/));
    assert.throws(() => checkSampleAgainst(signature, { ...good, y: good['x']! }, 3), invalid(/^calibration sample 3: 'y' is not an input of the model \(its inputs: 'x', 'mask'\)$/));
    assert.throws(
      () => checkSampleAgainst(signature, { ...good, mask: { type: 'int32', dims: [1, 7], data: new Int32Array(7) } }, 3),
      invalid(/^calibration sample 3: input 'mask' is int32, the model wants int64$/),
    );
    assert.throws(
      () => checkSampleAgainst(signature, { ...good, x: { type: 'float32', dims: [1, 2, 3, 224], data: new Float32Array(1344) } }, 3),
      invalid(/^calibration sample 3: input 'x' has 4 dims, the model wants 3 \(\[batch, 3, 224\]\)$/),
    );
    assert.throws(
      () => checkSampleAgainst(signature, { ...good, x: { type: 'float32', dims: [1, 3, 200], data: new Float32Array(600) } }, 3),
      invalid(/^calibration sample 3: input 'x' has size 200 on axis 2, the model wants 224 \(sample \[1, 3, 200\], model \[batch, 3, 224\]\)$/),
    );
  });
});
