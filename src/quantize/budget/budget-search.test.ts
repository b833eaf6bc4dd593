import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isKilnError } from '../../core/errors.js';
import { encodeModel } from '../../onnx/index.js';
import { PREPARE_PASSES, runPasses } from '../../onnx/passes/index.js';
import { makeFeeds, type TensorSignature } from '../../runtime/index.js';
import { buildFragileChain } from '../../../test/fixtures/budget-models.js';
import type { CalibrationSource, Feeds } from '../data/types.js';
import { quantizeModel } from '../quantize-model.js';
import { quantizeWithBudget } from './budget-search.js';
import { measureLayers } from './layers.js';
import { outputFidelity } from './output-fidelity.js';
import { analyzeSensitivity } from './sensitivity.js';
import { VariantBuilder } from './variants.js';

const SIGNATURE = [{ name: 'input', type: 'float32', shape: [1, 4, 12, 12] }] as unknown as TensorSignature[];
const feeds = (first: number, count: number): Feeds[] => Array.from({ length: count }, (_, index) => makeFeeds(SIGNATURE, { seed: first + index }));
const calibration: CalibrationSource = {
  description: '8 seeded inputs',
  count: 8,
  async *samples() {
    yield* feeds(1, 8);
  },
};
const heldOut = feeds(1000, 8);

describe('accuracy budget', () => {
  it('measures MACs from the shapes ONNX Runtime reports', async () => {
    const prepared = runPasses(buildFragileChain(), PREPARE_PASSES).model;
    const layers = await measureLayers(prepared, ['conv1', 'fragile', 'conv3'], heldOut[0]!);
    // Output 8×12×12 elements, each a sum over in/group × kH × kW products.
    assert.deepEqual(
      layers.map((layer) => layer.macs),
      [8 * 144 * 4 * 9, 8 * 144 * 8, 8 * 144 * 8 * 9],
    );
  });

  for (const method of ['leave-one-out', 'one-at-a-time'] as const) {
    it(`ranks the layer with the outlier weight most sensitive (${method})`, async () => {
      const prepared = runPasses(buildFragileChain(), PREPARE_PASSES).model;
      const { report } = await quantizeModel(prepared, calibration);
      const names = report.quantizedNodes.filter((node) => node.opType === 'Conv').map((node) => node.name);
      const layers = await measureLayers(prepared, names, heldOut[0]!);
      const fidelity = await outputFidelity(encodeModel(prepared), heldOut);
      const table = await analyzeSensitivity(layers, new VariantBuilder(prepared, report.ranges, {}), fidelity, { method });
      assert.equal(table.layers.length, 4);
      assert.equal(table.layers[0]!.name, 'fragile');
      assert.ok(table.layers[0]!.score > table.layers[1]!.score + 3, `fragile scores ${table.layers[0]!.score}, next ${table.layers[1]!.score}`);
      assert.equal(table.evaluations, 5);
    });
  }

  it('keeps exactly the fragile layer float and meets an SQNR floor', async () => {
    const model = buildFragileChain();
    const metric = await outputFidelity(encodeModel(model), heldOut);
    const { model: quantized, report } = await quantizeWithBudget(model, calibration, {
      budget: { kind: 'min-metric', min: 18 },
      evaluate: metric,
      sensitivityFeeds: heldOut,
    });
    assert.ok(report.fullyQuantizedMetric < 18, `fully quantized SQNR ${report.fullyQuantizedMetric}`);
    assert.deepEqual(report.floatLayers.map((layer) => layer.name), ['fragile']);
    assert.ok(report.finalMetric >= 18);
    assert.equal(await metric(encodeModel(quantized)), report.finalMetric);
    assert.equal(report.int8MacShare, (report.totalMacs - 8 * 144 * 8) / report.totalMacs);
    assert.equal(report.sensitivity?.layers[0]?.name, 'fragile');
    const fragileConv = quantized.graph!.node.find((node) => node.name === 'fragile')!;
    assert.equal(fragileConv.input[1], 'fragile.weight', 'the fragile conv keeps its float weight');
  });

  it('meets a drop budget in the metric\'s own units, with the baseline evaluated once', async () => {
    const model = buildFragileChain();
    const sqnr = await outputFidelity(encodeModel(model), heldOut);
    // A bounded "accuracy" in percent: 100 at FP32, falling with the noise.
    const evaluate = async (bytes: Uint8Array) => 100 - 100 * 10 ** (-(await sqnr(bytes)) / 10);
    const { report } = await quantizeWithBudget(model, calibration, { budget: { kind: 'max-drop', maxDrop: 2 }, evaluate, sensitivityFeeds: heldOut });
    assert.equal(report.baseline, 100);
    assert.ok(report.drop <= 2, `drop ${report.drop}`);
    assert.ok(report.fullyQuantizedMetric < 98);
    assert.deepEqual(report.floatLayers.map((layer) => layer.name), ['fragile']);
  });

  it('equalizes before calibrating when asked, and still meets the floor', async () => {
    const model = buildFragileChain();
    const metric = await outputFidelity(encodeModel(model), heldOut);
    const { model: quantized, report } = await quantizeWithBudget(model, calibration, { budget: { kind: 'min-metric', min: 18 }, evaluate: metric, sensitivityFeeds: heldOut, equalize: true });
    assert.ok(report.finalMetric >= 18);
    assert.equal(await metric(encodeModel(quantized)), report.finalMetric);
  });

  it('stops after one evaluation when the fully quantized model is within budget', async () => {
    const model = buildFragileChain();
    const metric = await outputFidelity(encodeModel(model), heldOut);
    const { report } = await quantizeWithBudget(model, calibration, { budget: { kind: 'min-metric', min: 5 }, evaluate: metric, sensitivityFeeds: heldOut, baseline: 100 });
    assert.equal(report.floatLayers.length, 0);
    assert.equal(report.int8MacShare, 1);
    assert.equal(report.sensitivity, undefined);
    assert.equal(report.evaluations.metric, 1);
  });

  it('refuses a budget that every layer in float cannot meet, with a typed error', async () => {
    const model = buildFragileChain();
    const sqnr = await outputFidelity(encodeModel(model), heldOut);
    // A metric that even the all-float variant cannot bring back to the stated baseline.
    const evaluate = async (bytes: Uint8Array) => Math.min(99, 100 - 100 * 10 ** (-(await sqnr(bytes)) / 10));
    await assert.rejects(
      quantizeWithBudget(model, calibration, { budget: { kind: 'max-drop', maxDrop: 0.5 }, baseline: 100, evaluate, sensitivityFeeds: heldOut }),
      (error) => {
        assert.ok(isKilnError(error, 'KILN_QUANTIZE_BUDGET_UNREACHABLE'));
        assert.match(error.message, /the metric is 9\d\.\d{4} with the [1-3] most sensitive in float, 99\.0000 with the 4 most sensitive in float \(of 4 weighted layers; FP32 100\.0000/);
        return true;
      },
    );
  });
});
