/**
 * The MobileNetV2-shaped fixture through the quantizer (issue acceptance 3, at a small
 * resolution to keep CI fast; `npm run bench:quantize` runs the full 224×224 model): BatchNorm
 * folded, every Conv/Gemm an integer kernel, the dynamic batch axis still works at batch 1 and
 * 8, logits stay close to float, and the S8S8 scheme fuses only with int8 allowed on x86.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { argmax, SqnrAccumulator } from '../../../src/evaluate/fidelity.js';
import { encodeModel, writeModel, type proto } from '../../../src/onnx/index.js';
import { Engine, makeFeeds, type TensorSignature } from '../../../src/runtime/index.js';
import type { CalibrationSource } from '../../../src/quantize/data/types.js';
import { checkFusion } from '../../../src/quantize/fusion-check.js';
import { quantizeModel, type QuantizeReport } from '../../../src/quantize/quantize-model.js';
import { buildMobileNetV2 } from '../../fixtures/mobilenet-v2.js';

const folder = mkdtempSync(join(tmpdir(), 'kiln-mobilenet-q-'));
after(() => rmSync(folder, { recursive: true, force: true }));

function source(inputs: readonly TensorSignature[], first: number, count: number): CalibrationSource {
  return {
    description: `${count} samples`,
    count,
    async *samples() {
      for (let seed = first; seed < first + count; seed++) yield makeFeeds(inputs, { seed, dims: { batch: 1 } });
    },
  };
}

describe('MobileNetV2 fixture, quantized with defaults', () => {
  const model = buildMobileNetV2({ resolution: 64, numClasses: 10 });
  const path = join(folder, 'mobilenet.int8.onnx');
  let inputs: readonly TensorSignature[];
  let report: QuantizeReport;
  let quantized: proto.ModelProto;

  before(async () => {
    const engine = await Engine.load(encodeModel(model));
    inputs = engine.inputs;
    await engine.release();
    ({ model: quantized, report } = await quantizeModel(model, source(inputs, 1, 16)));
    writeModel(quantized, path);
  });

  it('folds every BatchNormalization and absorbs every ReLU6', () => {
    assert.equal(report.passes.find((pass) => pass.name === 'fold-batchnorm')?.changes, 52);
    assert.ok(!quantized.graph!.node.some((node) => node.opType === 'BatchNormalization' || node.opType === 'Clip'));
    assert.equal(report.absorbed, 35);
  });

  it('turns every Conv and the Gemm into integer kernels', async () => {
    const fusion = await checkFusion(path, report.quantizedNodes);
    assert.deepEqual(fusion.compute, { asked: 53, fused: 53 });
    assert.equal(fusion.floatComputeAfterDq, 0);
    assert.equal(fusion.integerKernels['QLinearConv'], 52);
  });

  it('runs at batch 1 and 8 through the dynamic batch axis, close to float', async () => {
    const reference = await Engine.load(encodeModel(model));
    const int8 = await Engine.load(path);
    const sqnr = new SqnrAccumulator();
    let agree = 0;
    for (const batch of [1, 8]) {
      const feeds = makeFeeds(inputs, { seed: 500 + batch, dims: { batch } });
      const [expected, actual] = [(await reference.run(feeds))['logits']!, (await int8.run(feeds))['logits']!];
      assert.deepEqual(actual.dims, [batch, 10]);
      sqnr.add(expected.data as Float32Array, actual.data as Float32Array);
      for (let row = 0; row < batch; row++) if (argmax(expected.data as Float32Array, row * 10, 10) === argmax(actual.data as Float32Array, row * 10, 10)) agree++;
    }
    await reference.release();
    await int8.release();
    assert.ok(sqnr.db() > 10, `logits SQNR ${sqnr.db().toFixed(1)} dB`);
    console.log(`logits SQNR ${sqnr.db().toFixed(1)} dB, top-1 agreement ${agree}/9`);
  });

  it('S8S8 fuses fully only when onnxruntime is allowed int8 activations on x86', async () => {
    const { model: s8, report: s8Report } = await quantizeModel(model, source(inputs, 1, 4), { scheme: 'S8S8' });
    const s8Path = join(folder, 'mobilenet.s8s8.onnx');
    writeModel(s8, s8Path);
    const allowed = await checkFusion(s8Path, s8Report.quantizedNodes, 'S8S8');
    assert.deepEqual(allowed.compute, { asked: 53, fused: 53 });
    const plain = await checkFusion(s8Path, s8Report.quantizedNodes, 'U8S8');
    assert.ok(plain.compute.fused < 53, 'x86 without the session entry leaves int8 branch points unfused');
  });
});
