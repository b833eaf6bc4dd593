import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { KilnError, type ErrorCode } from '../../core/errors.js';
import { formatRanges, loadRanges, parseRanges, saveRanges } from './ranges-file.js';

const scratch = mkdtempSync(join(tmpdir(), 'kiln-ranges-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function rejectsWith(code: ErrorCode, pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof KilnError, String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    return true;
  };
}

const RANGES = new Map([
  ['relu_out', { min: 0, max: 6.000000476837158 }],
  ['10', { min: -0.1, max: 1e-30 }],
  ['9', { min: -3, max: 3 }],
  ['conv "1"', { min: -1.25, max: 3.5 }],
]);

describe('ranges file', () => {
  it('writes sorted names one per line and loads back the exact values', () => {
    const path = join(scratch, 'ranges.json');
    saveRanges(path, 'percentile', RANGES);
    const text = readFileSync(path, 'utf8');
    assert.equal(
      text,
      [
        '{',
        '  "format": "kiln-ranges",',
        '  "version": 1,',
        '  "method": "percentile",',
        '  "tensors": {',
        '    "10": [-0.1, 1e-30],',
        '    "9": [-3, 3],',
        '    "conv \\"1\\"": [-1.25, 3.5],',
        '    "relu_out": [0, 6.000000476837158]',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    const loaded = loadRanges(path);
    assert.equal(loaded.method, 'percentile');
    assert.deepEqual([...loaded.tensors.keys()], ['10', '9', 'conv "1"', 'relu_out']);
    for (const [name, range] of RANGES) assert.deepEqual(loaded.tensors.get(name), range);
    assert.deepEqual(readdirSync(scratch), ['ranges.json'], 'no temp file left behind');
  });

  it('gives the same bytes whatever order the ranges were observed in', () => {
    assert.equal(formatRanges('mse', new Map([...RANGES].reverse())), formatRanges('mse', RANGES));
    assert.deepEqual(parseRanges(formatRanges('mse', new Map()), 'empty.json'), { method: 'mse', tensors: new Map() });
  });

  it('refuses to save a non-finite range', () => {
    assert.throws(() => formatRanges('minmax', new Map([['x', { min: 0, max: Infinity }]])), rejectsWith('KILN_QUANTIZE_RANGES_INVALID', /tensor 'x'/));
  });

  it('names the file and the field that is wrong', () => {
    const header = '"format": "kiln-ranges", "version": 1, "method": "mse"';
    const cases: [string, RegExp][] = [
      ['{"format": "kiln-ranges", ', /^r\.json: not a kiln ranges file \(invalid JSON/],
      ['[1, 2]', /^r\.json: the top level: .*expected object/],
      [`{"format": "onnx", "version": 1, "method": "mse", "tensors": {}}`, /^r\.json: format: expected "kiln-ranges"/],
      [`{"format": "kiln-ranges", "version": 2, "method": "mse", "tensors": {}}`, /^r\.json: version: expected 1/],
      [`{"format": "kiln-ranges", "version": 1, "method": "kl", "tensors": {}}`, /^r\.json: method: expected one of minmax, percentile, entropy, mse/],
      [`{${header}}`, /^r\.json: tensors: /],
      [`{${header}, "tensors": {"a": [0, 1], "b": [2, 1]}}`, /^r\.json: tensors\["b"\]: min is above max$/],
      [`{${header}, "tensors": {"a": [0]}}`, /^r\.json: tensors\["a"\]: expected \[min, max\]/],
      [`{${header}, "tensors": {"a": [0, "1"]}}`, /^r\.json: tensors\["a"\]\[1\]: /],
      [`{${header}, "tensors": {"a": [0, 1e999]}}`, /^r\.json: tensors\["a"\]\[1\]: /],
      [`{${header}, "tensors": {}, "extra": 1}`, /^r\.json: the top level: .*"extra"/],
    ];
    for (const [text, pattern] of cases) assert.throws(() => parseRanges(text, 'r.json'), rejectsWith('KILN_QUANTIZE_RANGES_INVALID', pattern));
  });

  it('reports a missing file as not found', () => {
    assert.throws(() => loadRanges(join(scratch, 'missing.json')), rejectsWith('KILN_IO_NOT_FOUND', /missing\.json: cannot read the ranges file/));
    const bad = join(scratch, 'bad.json');
    writeFileSync(bad, 'nope');
    assert.throws(() => loadRanges(bad), rejectsWith('KILN_QUANTIZE_RANGES_INVALID', /bad\.json: not a kiln ranges file/));
    rmSync(bad);
  });
});
