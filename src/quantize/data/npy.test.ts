import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { encodeNpy as npy } from '../../../test/fixtures/npy.js';
import { KilnError } from '../../core/errors.js';
import { npyFolderSource, parseNpy, readNpy } from './npy.js';
import type { Feeds } from './types.js';

const scratch = mkdtempSync(join(tmpdir(), 'kiln-npy-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function calibrationInvalid(pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof KilnError, String(error));
    assert.equal(error.code, 'KILN_QUANTIZE_CALIBRATION_INVALID');
    assert.match(error.message, pattern);
    return true;
  };
}

async function collect(samples: AsyncIterable<Feeds>): Promise<Feeds[]> {
  const all: Feeds[] = [];
  for await (const feeds of samples) all.push(feeds);
  return all;
}

describe('parseNpy (calibration)', () => {
  it('narrows float64 to float32 and reports bad bytes as calibration data, naming the file', () => {
    const f8 = parseNpy(npy('<f8', [3], Float64Array.of(0.1, -2, 1e300), { version: 2 }), 'b.npy');
    assert.deepEqual(f8, { type: 'float32', dims: [3], data: Float32Array.of(0.1, -2, Infinity) });
    assert.deepEqual(parseNpy(npy('<i4', [2], Int32Array.of(-7, 9)), 'd.npy'), { type: 'int32', dims: [2], data: Int32Array.of(-7, 9) });
    assert.throws(
      () => parseNpy(npy('<f4', [2, 2], new Float32Array(3)), 'x.npy'),
      (error: unknown) => calibrationInvalid(/^x\.npy: holds 12 data bytes, but shape \(2, 2\) of <f4 needs 16/)(error) && (error as KilnError).details['file'] === 'x.npy',
    );
  });
});

describe('npyFolderSource', () => {
  it('follows symbolic links to .npy files and to per-input folders, and refuses a broken one', async () => {
    const store = join(scratch, 'linked-store');
    const folder = join(scratch, 'linked');
    mkdirSync(join(store, 'y'), { recursive: true });
    mkdirSync(join(folder, 'x'), { recursive: true });
    writeFileSync(join(store, 'x0.npy'), npy('<f4', [1], Float32Array.of(5)));
    writeFileSync(join(store, 'y', 'y0.npy'), npy('<f4', [1], Float32Array.of(7)));
    symlinkSync(join(store, 'x0.npy'), join(folder, 'x', 'a.npy'));
    symlinkSync(join(store, 'y'), join(folder, 'y'));
    const samples = await collect(npyFolderSource(folder).samples());
    assert.deepEqual(samples, [{ x: { type: 'float32', dims: [1], data: Float32Array.of(5) }, y: { type: 'float32', dims: [1], data: Float32Array.of(7) } }]);
    symlinkSync(join(store, 'gone.npy'), join(folder, 'x', 'b.npy'));
    assert.throws(() => npyFolderSource(folder), calibrationInvalid(/b\.npy: a symbolic link that leads to no file/));
  });

  it('reads a flat folder for one input, sorted by name, up to the limit', async () => {
    const folder = join(scratch, 'flat');
    mkdirSync(folder);
    for (const [name, value] of [['s10.npy', 10], ['s02.npy', 2], ['s01.npy', 1]] as const) {
      writeFileSync(join(folder, name), npy('<f4', [1, 2], Float32Array.of(value, -value)));
    }
    writeFileSync(join(folder, 'readme.txt'), 'ignored');
    const source = npyFolderSource(folder, { input: 'x' });
    assert.equal(source.count, 3);
    assert.equal(source.description, `3 .npy samples in ${folder}`);
    const samples = await collect(source.samples());
    assert.deepEqual(samples.map((feeds) => (feeds['x']!.data as Float32Array)[0]), [1, 2, 10]);
    assert.equal((await collect(npyFolderSource(folder, { input: 'x', limit: 2 }).samples())).length, 2);
    assert.throws(() => npyFolderSource(folder), calibrationInvalid(/holds \.npy files for one input, but no input name was given/));
  });

  it('pairs per-input subfolders by position', async () => {
    const folder = join(scratch, 'inputs');
    for (const input of ['ids', 'mask']) mkdirSync(join(folder, input), { recursive: true });
    for (let index = 0; index < 2; index++) {
      writeFileSync(join(folder, 'ids', `${index}.npy`), npy('<i8', [1, 2], BigInt64Array.of(BigInt(index), 7n)));
      writeFileSync(join(folder, 'mask', `m${index}.npy`), npy('<i8', [1, 2], BigInt64Array.of(1n, BigInt(index))));
    }
    const source = npyFolderSource(folder);
    assert.equal(source.description, `2 .npy samples in ${folder} for 2 inputs`);
    const samples = await collect(source.samples());
    assert.deepEqual(samples[1], {
      ids: { type: 'int64', dims: [1, 2], data: BigInt64Array.of(1n, 7n) },
      mask: { type: 'int64', dims: [1, 2], data: BigInt64Array.of(1n, 1n) },
    });
    writeFileSync(join(folder, 'mask', 'm2.npy'), npy('<i8', [1, 2], new BigInt64Array(2)));
    assert.throws(() => npyFolderSource(folder), calibrationInvalid(/different numbers of \.npy files \(ids\/ has 2, mask\/ has 3\)/));
  });

  it('refuses a folder with no .npy files, and reports a bad file when its sample is read', async () => {
    const empty = join(scratch, 'empty');
    mkdirSync(join(empty, 'x'), { recursive: true });
    assert.throws(() => npyFolderSource(empty, { input: 'x' }), calibrationInvalid(/holds no \.npy files, nor subfolders of them/));
    const bad = join(scratch, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'a.npy'), npy('<f2', [1], new Uint16Array(1)));
    await assert.rejects(collect(npyFolderSource(bad, { input: 'x' }).samples()), calibrationInvalid(/a\.npy: has dtype '<f2'/));
  });

  it('readNpy reports a missing file as not found', () => {
    assert.throws(() => readNpy(join(scratch, 'nope.npy')), (error: unknown) => error instanceof KilnError && error.code === 'KILN_IO_NOT_FOUND');
  });
});
