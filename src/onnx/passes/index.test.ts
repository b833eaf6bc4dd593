import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildMobileNetV2 } from '../../../test/fixtures/mobilenet-v2.js';
import type { ModelProto } from '../gen/onnx_pb.js';
import { opsetVersion } from '../graph.js';
import {
  PREPARE_PASSES,
  constantsToInitializers,
  flattenToReshape,
  foldBatchNorm,
  foldConstants,
  removeIdentity,
  runPasses,
  upgradeOpset,
} from './index.js';
import { TOLERANCE, compareModels, loadPpOcr, opCounts, seededFeeds, textFeeds, type PpOcrId } from '../../../test/fixtures/pass-harness.js';

const FOLDABLE_PRODUCERS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

/** BatchNormalization nodes fed by an op fold-batchnorm knows (they should be gone). */
function foldableBatchNorms(model: ModelProto): string[] {
  const nodes = model.graph!.node;
  return nodes
    .filter((node) => node.opType === 'BatchNormalization')
    .filter((bn) => FOLDABLE_PRODUCERS.has(nodes.find((node) => node.output.includes(bn.input[0]!))?.opType ?? ''))
    .map((bn) => bn.name);
}

/** What every prepared model must look like; `opset` is 13 unless the model started higher. */
function assertPrepared(prepared: ModelProto, opset = 13): void {
  assert.equal(opsetVersion(prepared), opset);
  assert.ok(prepared.irVersion >= 7n);
  assert.equal(opCounts(prepared).get('Constant'), undefined, 'no Constant node left');
  assert.equal(opCounts(prepared).get('Flatten'), undefined, 'no Flatten left');
  assert.deepEqual(foldableBatchNorms(prepared), [], 'a foldable BatchNormalization is left');
}

describe('PREPARE_PASSES', () => {
  it('lists the passes in order and runPasses reports each', () => {
    assert.deepEqual(
      PREPARE_PASSES.map((pass) => pass.name),
      ['constants-to-initializers', 'upgrade-opset', 'remove-identity', 'fold-batchnorm', 'flatten-to-reshape', 'fold-constants'],
    );
    const model = buildMobileNetV2({ resolution: 32, numClasses: 4, widthMultiplier: 0.25 });
    const { applied } = runPasses(model, PREPARE_PASSES);
    assert.deepEqual(applied.map((pass) => pass.name), PREPARE_PASSES.map((pass) => pass.name));
    assert.equal(applied.find((pass) => pass.name === 'fold-batchnorm')!.changes, 52);
    assert.equal(applied.find((pass) => pass.name === 'flatten-to-reshape')!.changes, 1);
    for (const fn of [constantsToInitializers, upgradeOpset, removeIdentity, foldBatchNorm, flattenToReshape, foldConstants]) assert.equal(typeof fn, 'function');
  });

  it('prepares MobileNetV2: every BN folded, Flatten as Reshape, outputs unchanged', async () => {
    const model = buildMobileNetV2({ resolution: 64, numClasses: 10 });
    const { model: prepared } = runPasses(model, PREPARE_PASSES);
    assertPrepared(prepared, 17);
    assert.equal(opCounts(prepared).get('BatchNormalization'), undefined);
    const error = await compareModels(model, prepared, await seededFeeds(model, { dims: { batch: 2 } }));
    assert.ok(error <= TOLERANCE, `max relative error ${error}`);
  });

  for (const [id, leftBatchNorms] of [['cls', 0], ['rec', 0]] as [PpOcrId, number][]) {
    it(`prepares the PP-OCR ${id} model (opset 9 → 13) with outputs unchanged`, async () => {
      const model = loadPpOcr(id);
      const { model: prepared } = runPasses(model, PREPARE_PASSES);
      assertPrepared(prepared);
      assert.equal(opCounts(prepared).get('BatchNormalization') ?? 0, leftBatchNorms);
      const error = await compareModels(model, prepared, await textFeeds(id));
      assert.ok(error <= TOLERANCE, `max relative error ${error}`);
    });
  }

  it('prepares the PP-OCR det model (opset 11 → 13): exact but for BN folding, which is as close as onnxruntime’s own', async () => {
    const model = loadPpOcr('det');
    const feeds = await textFeeds('det');
    const { model: prepared, applied } = runPasses(model, PREPARE_PASSES);
    assertPrepared(prepared);
    // The one BN left normalizes the sum of two branches (an Add), which no weight can absorb.
    assert.equal(opCounts(prepared).get('BatchNormalization'), 1);
    assert.equal(applied.find((pass) => pass.name === 'fold-batchnorm')!.changes, 2);
    const withoutFolding = runPasses(model, PREPARE_PASSES.filter((pass) => pass.name !== 'fold-batchnorm')).model;
    assert.ok((await compareModels(model, withoutFolding, feeds)) <= TOLERANCE);
    // The detector turns 1-ulp changes into ~1e-5 of probability: onnxruntime's own Conv+BN
    // fusion (its 'basic' level) moves this output by 1.8e-5, so that is the bound for folding.
    const ortFusion = await compareModels(model, model, feeds, 'basic');
    const error = await compareModels(model, prepared, feeds);
    assert.ok(error <= Math.max(TOLERANCE, 1.25 * ortFusion), `max relative error ${error}, onnxruntime's own fusion ${ortFusion}`);
  });
});
