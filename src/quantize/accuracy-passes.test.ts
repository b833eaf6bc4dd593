import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeModel } from '../onnx/index.js';
import { Engine, makeFeeds, type TensorSignature } from '../runtime/index.js';
import { buildDepthwiseSeparable } from '../../test/fixtures/budget-models.js';
import type { ModelProto } from '../onnx/gen/onnx_pb.js';
import type { CalibrationSource, Feeds } from './data/types.js';
import { quantizeWithAccuracyPasses } from './accuracy-passes.js';

const SIGNATURE = [{ name: 'input', type: 'float32', shape: [1, 3, 32, 32] }] as unknown as TensorSignature[];
const feeds = (first: number, count: number): Feeds[] => Array.from({ length: count }, (_, index) => makeFeeds(SIGNATURE, { seed: first + index }));
const calibration: CalibrationSource = {
  description: '16 seeded inputs',
  count: 16,
  async *samples() {
    yield* feeds(1, 16);
  },
};

/** Per output channel, the mean of (INT8 − FP32) over held-out inputs; returns the mean |bias| and the SQNR. */
async function outputError(reference: ModelProto, quantized: ModelProto): Promise<{ meanAbsBias: number; sqnrDb: number }> {
  const [fp32, int8] = [await Engine.load(encodeModel(reference)), await Engine.load(encodeModel(quantized))];
  let signal = 0;
  let noise = 0;
  let bias: Float64Array | undefined;
  let perChannel = 0;
  const held = feeds(500, 8);
  for (const feed of held) {
    const want = (await fp32.run(feed))['output']!;
    const got = (await int8.run(feed))['output']!.data as Float32Array;
    const channels = want.dims[1]!;
    perChannel = want.data.length / channels;
    bias ??= new Float64Array(channels);
    (want.data as Float32Array).forEach((value, index) => {
      const error = got[index]! - value;
      signal += value * value;
      noise += error * error;
      bias![Math.floor(index / perChannel)]! += error;
    });
  }
  await fp32.release();
  await int8.release();
  const means = Array.from(bias!, (sum) => Math.abs(sum / (perChannel * held.length)));
  return { meanAbsBias: means.reduce((a, b) => a + b, 0) / means.length, sqnrDb: 10 * Math.log10(signal / noise) };
}

describe('accuracy passes', () => {
  it('bias correction reduces the mean output error of per-tensor INT8 on a depthwise-separable net', async () => {
    const model = buildDepthwiseSeparable();
    const plain = await quantizeWithAccuracyPasses(model, calibration, { perChannel: false });
    const corrected = await quantizeWithAccuracyPasses(model, calibration, { perChannel: false, biasCorrection: true });
    assert.ok(corrected.passes.correctedBiases >= 9, `${corrected.passes.correctedBiases} biases corrected`);
    const [before, after] = [await outputError(model, plain.model), await outputError(model, corrected.model)];
    assert.ok(after.meanAbsBias < before.meanAbsBias * 0.7, `mean |E[error]| ${before.meanAbsBias} → ${after.meanAbsBias}`);
  });

  it('equalization before calibration raises the SQNR of per-tensor INT8 on unequal depthwise channels', async () => {
    const model = buildDepthwiseSeparable();
    const plain = await quantizeWithAccuracyPasses(model, calibration, { perChannel: false });
    const equalized = await quantizeWithAccuracyPasses(model, calibration, { perChannel: false, equalize: true });
    assert.equal(equalized.passes.equalizedPairs, 8);
    const [before, after] = [await outputError(model, plain.model), await outputError(model, equalized.model)];
    assert.ok(after.sqnrDb > before.sqnrDb + 3, `SQNR ${before.sqnrDb} → ${after.sqnrDb} dB`);
  });
});
