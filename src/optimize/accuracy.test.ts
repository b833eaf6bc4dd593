import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { encodeModel } from '../onnx/index.js';
import { calibrationConfig } from '../quantize/calibrate/index.js';
import type { CalibrationSource, Feeds } from '../quantize/data/types.js';
import { makeFeeds, type TensorSignature } from '../runtime/index.js';
import { buildFragileChain } from '../../test/fixtures/budget-models.js';
import { quantize } from './quantize.js';
import type { StaticMode } from './types.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-accuracy-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const modelPath = join(dir, 'fragile.onnx');
writeFileSync(modelPath, encodeModel(buildFragileChain()));

const SIGNATURE = [{ name: 'input', type: 'float32', shape: [1, 4, 12, 12] }] as unknown as TensorSignature[];
const sourceOf = (first: number, count: number): CalibrationSource => ({
  description: `${count} seeded inputs`,
  count,
  async *samples(): AsyncIterable<Feeds> {
    for (let i = 0; i < count; i++) yield makeFeeds(SIGNATURE, { seed: first + i });
  },
});

const plain: StaticMode = {
  kind: 'static',
  calibration: calibrationConfig('minmax'),
  scheme: 'U8S8',
  perChannel: false,
  reduceRange: false,
  excludeNodes: [],
  excludeOpTypes: [],
};

describe('quantize with an accuracy target', () => {
  it('--min-sqnr keeps the fragile layer float, reports it, and the written model meets the floor', async () => {
    const output = join(dir, 'budget.onnx');
    const report = await quantize(modelPath, {
      mode: { ...plain, budget: { kind: 'min-sqnr', minSqnrDb: 18, heldOut: { source: sourceOf(1000, 8) } } },
      output,
      data: { source: sourceOf(1, 8) },
      sqnrSamples: 0,
    });
    assert.ok(report.budget, 'the report carries the budget outcome');
    assert.deepEqual(report.budget.floatLayers.map((layer) => layer.name), ['fragile']);
    assert.ok(report.budget.finalMetric >= 18, `final SQNR ${report.budget.finalMetric}`);
    assert.ok(report.budget.fullyQuantizedMetric < 18, 'the fully quantized model misses the floor, so the search had work to do');
    assert.ok(report.budget.int8MacShare > 0.5 && report.budget.int8MacShare < 1);
    assert.equal(report.quantizedNodes.some((node) => node.name === 'fragile'), false, 'the float layer is not among the quantized nodes');
  });

  it('runs cross-layer equalization and bias correction when asked, and refuses bias correction with a budget', async () => {
    const report = await quantize(modelPath, {
      mode: { ...plain, equalize: true, biasCorrection: true },
      output: join(dir, 'passes.onnx'),
      data: { source: sourceOf(1, 8) },
      sqnrSamples: 0,
    });
    assert.ok(report.accuracyPasses, 'the report says what the passes did');
    assert.ok(report.accuracyPasses.correctedBiases > 0, 'the Conv biases were corrected');
    await assert.rejects(
      quantize(modelPath, {
        mode: { ...plain, biasCorrection: true, budget: { kind: 'min-sqnr', minSqnrDb: 18, heldOut: { source: sourceOf(1000, 4) } } },
        output: join(dir, 'both.onnx'),
        data: { source: sourceOf(1, 8) },
      }),
      /bias correction cannot be combined with an accuracy budget/,
    );
  });
});
