import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../core/random.js';
import { BatchBuffers, probabilities, topK } from './image-classifier.js';

// The obvious versions (array methods and a full sort), which the loops must match bit for bit.
function referenceProbabilities(row: Float32Array, mode: 'auto' | 'always' | 'never'): Float32Array {
  const isDistribution = row.every((p) => p >= 0 && p <= 1) && Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-3;
  if (mode === 'never' || (mode === 'auto' && isDistribution)) return row;
  const max = Math.max(...row);
  const exps = row.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / sum);
}
function referenceTopK(row: Float32Array, k: number, labels: ReadonlyMap<number, string>): [string, number][] {
  const order = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]!);
  return order.slice(0, k).map((index) => [labels.get(index) ?? String(index), row[index]!]);
}

const labels = new Map(Array.from({ length: 1000 }, (_, index) => [index, `class ${index}`] as const));

test('softmax and top-k give the full-sort answers bit for bit, ties to the lower index', () => {
  const random = seededRandom(7);
  const rows = [
    ...Array.from({ length: 20 }, () => Float32Array.from({ length: 1000 }, () => random() * 20 - 10)),
    // Coarse values: many ties.
    ...Array.from({ length: 5 }, () => Float32Array.from({ length: 1000 }, () => Math.round(random() * 4))),
    Float32Array.from([0.1, 0.7, 0.2]),
    Float32Array.from([3]),
  ];
  for (const row of rows) {
    for (const mode of ['auto', 'always', 'never'] as const) {
      const expected = referenceProbabilities(row, mode);
      const actual = probabilities(row, mode);
      assert.deepEqual([...actual], [...expected]);
      for (const k of [1, 5, 10, 2000]) assert.deepEqual(Object.entries(topK(actual, k, labels)), referenceTopK(expected, k, labels));
    }
  }
});

test('a row that is a distribution passes through under auto; a NaN logit makes every probability NaN', () => {
  const distribution = Float32Array.from([0.25, 0.5, 0.25]);
  assert.equal(probabilities(distribution, 'auto'), distribution);
  assert.notEqual(probabilities(distribution, 'always'), distribution);
  assert.ok([...probabilities(Float32Array.from([1, Number.NaN, 2]), 'always')].every(Number.isNaN));
});

test('top-k names classes without a label by their index', () => {
  assert.deepEqual(topK(Float32Array.from([0.1, 0.9]), 5, new Map([[0, 'cat']])), { '1': 0.8999999761581421, cat: 0.10000000149011612 });
});

test('batch buffers: a given-back buffer is taken again for the same kind and length only, and a few are kept', () => {
  const buffers = new BatchBuffers();
  const pixels = buffers.take('pixels', 12);
  assert.ok(pixels instanceof Uint8Array && pixels.length === 12);
  buffers.give(pixels);
  assert.notEqual(buffers.take('float', 12), pixels, 'another kind');
  assert.notEqual(buffers.take('pixels', 13), pixels, 'another length');
  assert.equal(buffers.take('pixels', 12), pixels, 'the same kind and length');
  assert.notEqual(buffers.take('pixels', 12), pixels, 'taken once only');
  const given: (Uint8Array | Float32Array)[] = Array.from({ length: BatchBuffers.KEPT + 2 }, () => new Float32Array(5));
  for (const buffer of given) buffers.give(buffer);
  const taken = Array.from({ length: BatchBuffers.KEPT + 2 }, () => buffers.take('float', 5));
  assert.equal(taken.filter((buffer) => given.includes(buffer)).length, BatchBuffers.KEPT, 'at most KEPT are kept');
  assert.ok(!taken.includes(given[0]!) && !taken.includes(given[1]!), 'the oldest go first');
});
