import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERROR_CATALOGUE, KilnError, isKilnError, type ErrorCode } from './errors.js';

const KINDS = new Set(['invalid_arg', 'not_found', 'already_exists', 'unavailable', 'unsupported', 'cancelled', 'internal', 'unknown']);

function documentedCodes(): Map<string, { kind: string; wireType: string }> {
  const text = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const rows = new Map<string, { kind: string; wireType: string }>();
  for (const match of text.matchAll(/^\| `(KILN_[A-Z0-9_]+)` \| (\w+) \| (\w+) \|/gm)) {
    rows.set(match[1]!, { kind: match[2]!, wireType: match[3]! });
  }
  return rows;
}

test('docs/errors.md lists every catalogue code with its kind and wire type, and nothing else', () => {
  const documented = documentedCodes();
  for (const [code, entry] of Object.entries(ERROR_CATALOGUE)) {
    assert.deepEqual(documented.get(code), { kind: entry.kind, wireType: entry.wireType }, `${code} in docs/errors.md`);
  }
  for (const code of documented.keys()) assert.ok(code in ERROR_CATALOGUE, `${code} is documented but not in the catalogue`);
});

test('codes follow KILN_<AREA>_<WHAT> and kinds come from the closed set', () => {
  for (const [code, entry] of Object.entries(ERROR_CATALOGUE)) {
    assert.match(code, /^KILN_[A-Z]+_[A-Z0-9_]+$/);
    assert.ok(KINDS.has(entry.kind), `${code} has kind ${entry.kind}`);
    assert.match(entry.wireType, /^[A-Z]\w+Exception$/);
  }
});

test('KilnError carries code, kind, cause and frozen details', () => {
  const cause = new Error('ENOENT');
  const error = new KilnError('KILN_IO_NOT_FOUND', 'model.onnx: no such file', { cause, details: { path: 'model.onnx' } });
  assert.equal(error.code, 'KILN_IO_NOT_FOUND');
  assert.equal(error.kind, 'not_found');
  assert.equal(error.wireType, 'ModelNotFoundException');
  assert.equal(error.cause, cause);
  assert.ok(Object.isFrozen(error.details));
  assert.ok(isKilnError(error, 'KILN_IO_NOT_FOUND'));
  assert.ok(!isKilnError(error, 'KILN_IO_READ_FAILED' as ErrorCode));
  assert.ok(!isKilnError(new Error('x')));
});
