import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { KilnError } from '../../core/errors.js';
import { moduleSource, toFeeds } from './module.js';
import type { Feeds } from './types.js';

const scratch = mkdtempSync(join(tmpdir(), 'kiln-module-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

let written = 0;
/** Writes a module under a fresh name (ESM caches imports by URL). */
function writeModule(source: string, extension = '.mjs'): string {
  const path = join(scratch, `calib-${written++}${extension}`);
  writeFileSync(path, source);
  return path;
}

async function collect(samples: AsyncIterable<Feeds>): Promise<Feeds[]> {
  const all: Feeds[] = [];
  for await (const feeds of samples) all.push(feeds);
  return all;
}

function calibrationInvalid(pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof KilnError, String(error));
    assert.equal(error.code, 'KILN_QUANTIZE_CALIBRATION_INVALID');
    assert.match(error.message, pattern);
    return true;
  };
}

describe('moduleSource', () => {
  it('runs a TypeScript generator function, passing the limit and stopping at it', async () => {
    const file = writeModule(
      `export default async function* ({ limit }: { limit?: number }) {
        for (let i = 0; i < 10; i++) yield { x: { type: 'float32' as const, dims: [1, 2], data: new Float32Array([i, limit ?? -1]) } };
      }`,
      '.ts',
    );
    const source = moduleSource(file, { limit: 3 });
    assert.equal(source.count, undefined);
    assert.equal(source.description, `samples from ${file}`);
    const samples = await collect(source.samples());
    assert.deepEqual(samples.map((feeds) => [...(feeds['x']!.data as Float32Array)]), [[0, 3], [1, 3], [2, 3]]);
    // A function is called again for a second pass.
    assert.equal((await collect(source.samples())).length, 3);
  });

  it('takes a plain iterable and copies plain arrays into typed ones', async () => {
    const file = writeModule(`export default [
      { ids: { type: 'int64', dims: [2], data: [1, 2] }, x: { type: 'float32', dims: [1], data: [0.5] }, on: { type: 'bool', dims: [1], data: [true] } },
    ];`);
    const [sample] = await collect(moduleSource(file).samples());
    assert.deepEqual(sample, {
      ids: { type: 'int64', dims: [2], data: BigInt64Array.of(1n, 2n) },
      x: { type: 'float32', dims: [1], data: Float32Array.of(0.5) },
      on: { type: 'bool', dims: [1], data: Uint8Array.of(1) },
    });
  });

  it('names the sample and the input that is malformed', async () => {
    const file = writeModule(`export default function* () {
      yield { x: { type: 'float32', dims: [2], data: new Float32Array(2) } };
      yield { x: { type: 'float32', dims: [2, 2], data: new Float32Array(3) } };
    }`);
    await assert.rejects(collect(moduleSource(file).samples()), calibrationInvalid(/^calibration sample 1: input 'x' has 3 values for dims \[2, 2\] \(4 needed\)$/));
  });

  it('refuses a module without a usable default export, or one that does not load', async () => {
    await assert.rejects(collect(moduleSource(writeModule('export const samples = [];')).samples()), calibrationInvalid(/the default export must be an iterable of feeds, or a function returning one \(got undefined\)/));
    await assert.rejects(collect(moduleSource(writeModule('export default () => 42;')).samples()), calibrationInvalid(/got a function returning number/));
    await assert.rejects(collect(moduleSource(writeModule('export default {{;')).samples()), calibrationInvalid(/cannot load the calibration module/));
  });
});

describe('toFeeds', () => {
  it('accepts typed arrays of the right class and returns fresh tensor objects', () => {
    const data = new Float32Array(6);
    const dims = [2, 3];
    const feeds = toFeeds({ x: { type: 'float32', dims, data } }, 0);
    assert.equal(feeds['x']!.data, data);
    assert.notEqual(feeds['x']!.dims, dims);
  });

  it('says what is wrong, with the sample index', () => {
    const cases: [unknown, RegExp][] = [
      [null, /^calibration sample 4 is null; expected an object of tensors by input name$/],
      [[1], /^calibration sample 4 is an array/],
      [{}, /^calibration sample 4 has no inputs$/],
      [{ x: 3 }, /input 'x' is not a \{ type, dims, data \} tensor/],
      [{ x: { type: 'complex64', dims: [1], data: [1] } }, /input 'x' has type "complex64"; expected one of float32, /],
      [{ x: { type: 'float32', dims: [-1], data: [] } }, /input 'x' has dims \[-1\]; expected an array of non-negative integers/],
      [{ x: { type: 'float32', dims: [2], data: new Float64Array(2) } }, /input 'x': data is Float64Array; a float32 tensor needs a Float32Array or a plain array/],
      [{ x: { type: 'int64', dims: [1], data: [1.5] } }, /input 'x': data holds number 1\.5, which int64 cannot hold/],
      [{ x: { type: 'float16', dims: [1], data: [1] } }, /float16 data must be a Uint16Array of raw half-precision bits/],
    ];
    for (const [value, pattern] of cases) assert.throws(() => toFeeds(value, 4), calibrationInvalid(pattern));
  });
});
