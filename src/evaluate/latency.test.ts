import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DataType, encodeModel, makeModel, makeNode, makeValueInfo } from '../onnx/index.js';
import { Engine } from '../runtime/engine.js';
import { makeFeeds } from '../runtime/feeds.js';
import type { HostTensor } from '../runtime/tensors.js';
import { LATENCY_DEFAULTS, measureLatency, quantile, summarizeLatency } from './latency.js';

function near(actual: number, expected: number, what = 'value'): void {
  assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} is not ${expected}`);
}

describe('quantile', () => {
  // Expected values are numpy.quantile(values, q) with the default (linear) method.
  const cases: [number[], number, number][] = [
    [[1, 2, 3, 4], 0.5, 2.5],
    [[1, 2, 3, 4], 0.9, 3.7],
    [[1, 2, 3, 4], 0.25, 1.75],
    [[1, 2, 3, 4], 0, 1],
    [[1, 2, 3, 4], 1, 4],
    [[10, 20, 30], 0.5, 20],
    [[10, 20, 30], 0.25, 15],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.99, 9.91],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9, 9.1],
    [[0.5, 0.5, 2], 0.75, 1.25],
  ];
  for (const [values, q, expected] of cases) {
    it(`gives ${expected} for q=${q} of [${values.join(', ')}]`, () => near(quantile(values, q), expected));
  }

  it('gives the single value for every q', () => {
    for (const q of [0, 0.5, 0.9, 0.99, 1]) assert.equal(quantile([42], q), 42);
  });

  it('gives NaN for no values', () => {
    assert.ok(Number.isNaN(quantile([], 0.5)));
  });
});

describe('summarizeLatency', () => {
  it('summarizes unsorted times without touching them', () => {
    const times = [4, 1, 3, 2];
    const result = summarizeLatency(times, 8);
    assert.deepEqual(times, [4, 1, 3, 2]);
    assert.equal(result.runs, 4);
    assert.equal(result.batch, 8);
    near(result.meanMs, 2.5, 'mean');
    near(result.p50Ms, 2.5, 'p50');
    near(result.p90Ms, 3.7, 'p90');
    near(result.p99Ms, 3.97, 'p99');
    assert.equal(result.minMs, 1);
    assert.equal(result.maxMs, 4);
    near(result.samplesPerSecond, 3200, 'samples per second'); // 8 rows * 1000 / 2.5 ms
  });

  it('sorts numerically, not as strings', () => {
    const result = summarizeLatency([10, 9, 100, 2], 1);
    assert.equal(result.minMs, 2);
    assert.equal(result.maxMs, 100);
    near(result.p50Ms, 9.5, 'p50');
  });

  it('computes throughput from batch and the mean', () => {
    near(summarizeLatency([5, 5, 5], 1).samplesPerSecond, 200);
    near(summarizeLatency([20], 4).samplesPerSecond, 200);
  });

  it(
    'keeps every field a number for no runs (iterations 0)',
    () => {
      const result = summarizeLatency([], 1);
      assert.equal(result.runs, 0);
      for (const [field, value] of Object.entries(result)) assert.equal(typeof value, 'number', `${field} is ${String(value)}`);
    },
  );
});

describe('measureLatency', () => {
  let engine: Engine;
  let feeds: Record<string, HostTensor>;
  before(async () => {
    const model = makeModel({
      name: 'latency',
      nodes: [makeNode('Relu', ['x'], ['y'])],
      inputs: [makeValueInfo('x', DataType.FLOAT, ['batch', 16])],
      outputs: [makeValueInfo('y', DataType.FLOAT, ['batch', 16])],
    });
    engine = await Engine.load(encodeModel(model), { intraOpThreads: 1 });
    feeds = makeFeeds(engine.inputs, { batch: 4 });
  });
  after(() => engine.release());

  it('has the documented defaults', () => {
    assert.deepEqual({ ...LATENCY_DEFAULTS }, { warmup: 5, iterations: 50 });
  });

  it('times exactly `iterations` runs and reports progress after each', async () => {
    const progress: [number, number][] = [];
    const result = await measureLatency(engine, feeds, {
      warmup: 1,
      iterations: 7,
      onProgress: (done, total) => progress.push([done, total]),
    });
    assert.equal(result.runs, 7);
    assert.deepEqual(
      progress,
      Array.from({ length: 7 }, (_, index) => [index + 1, 7]),
    );
    assert.equal(result.batch, 4, 'batch is the first dim of the first feed');
    near(result.samplesPerSecond, (4 * 1000) / result.meanMs, 'samples per second');
  });

  it('reports ordered, positive statistics', async () => {
    const result = await measureLatency(engine, feeds, { warmup: 2, iterations: 40 });
    assert.ok(result.minMs > 0, `min ${result.minMs}`);
    assert.ok(result.minMs <= result.p50Ms);
    assert.ok(result.p50Ms <= result.p90Ms);
    assert.ok(result.p90Ms <= result.p99Ms);
    assert.ok(result.p99Ms <= result.maxMs);
    assert.ok(result.minMs <= result.meanMs && result.meanMs <= result.maxMs);
  });

  it('stops once maxMillis is spent, after at least 3 runs', async () => {
    const progress: number[] = [];
    const result = await measureLatency(engine, feeds, {
      warmup: 0,
      iterations: 1000,
      maxMillis: 0,
      onProgress: (done) => progress.push(done),
    });
    assert.equal(result.runs, 3);
    assert.deepEqual(progress, [1, 2, 3]);
  });

  it('stops near maxMillis, long before iterations', async () => {
    const started = performance.now();
    const result = await measureLatency(engine, feeds, { warmup: 0, iterations: 1_000_000, maxMillis: 20 });
    assert.ok(result.runs >= 3 && result.runs < 1_000_000, `${result.runs} runs`);
    assert.ok(performance.now() - started < 2000, 'it did not run all iterations');
  });

  it('warms up with feeds checked, so bad feeds reject before timing', async () => {
    let called = 0;
    await assert.rejects(
      measureLatency(engine, {}, { warmup: 1, iterations: 3, onProgress: () => called++ }),
      (error: Error & { code?: string }) => error.code === 'KILN_RUNTIME_INPUT_INVALID',
    );
    assert.equal(called, 0);
  });
});
