import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildDepthwiseSeparable } from '../../../test/fixtures/budget-models.js';
import { compareModels } from '../../../test/fixtures/pass-harness.js';
import { buildMobileNetV2 } from '../../../test/fixtures/mobilenet-v2.js';
import type { ModelProto } from '../gen/onnx_pb.js';
import { decodeTensor } from '../tensor.js';
import { equalizeCrossLayer } from './equalize-cross-layer.js';
import { foldBatchNorm } from './fold-batchnorm.js';

/** Largest over smallest per-output-channel max|w| of a conv weight. */
function channelSpread(model: ModelProto, name: string): number {
  const tensor = decodeTensor(model.graph!.initializer.find((t) => t.name === name)!);
  const channels = tensor.dims[0]!;
  const size = tensor.data.length / channels;
  const ranges = Array.from({ length: channels }, (_, c) => Math.max(...Array.from((tensor.data as Float32Array).subarray(c * size, (c + 1) * size), Math.abs)));
  return Math.max(...ranges) / Math.min(...ranges);
}

describe('equalizeCrossLayer', () => {
  it('keeps the FP32 outputs of a depthwise-separable net within 1e-4 and evens out the depthwise channels', async () => {
    const model = buildDepthwiseSeparable();
    const result = equalizeCrossLayer(model);
    // stem → dw0, then dw → pw and pw → dw through ReLU in every block: 2 per block.
    assert.equal(result.changes, 8);
    const error = await compareModels(model, result.model);
    assert.ok(error <= 1e-4, `max relative error ${error}`);
    const before = channelSpread(model, 'block1.dw.weight');
    const after = channelSpread(result.model, 'block1.dw.weight');
    assert.ok(before > 20 && after < before / 4, `depthwise channel spread ${before} → ${after}`);
  });

  it('does not equalize across ReLU6 (Clip), which is not positive-homogeneous', () => {
    const model = foldBatchNorm(buildMobileNetV2({ widthMultiplier: 0.25, resolution: 32, numClasses: 10 })).model;
    const result = equalizeCrossLayer(model);
    // A depthwise conv sits between two Clips: its weight must come out byte for byte.
    const depthwise = 'features.2.conv.1.conv.weight';
    const weight = (m: ModelProto) => decodeTensor(m.graph!.initializer.find((t) => t.name === depthwise)!).data;
    assert.deepEqual(weight(result.model), weight(model));
    // Only linear bottlenecks pair up: a project 1×1 feeding the next expand 1×1 directly.
    assert.ok(result.changes > 0 && result.changes <= 7, `${result.changes} pairs`);
  });

  it('leaves a model without conv pairs unchanged', () => {
    const model = buildDepthwiseSeparable({ widths: [8] });
    const single = { ...model, graph: { ...model.graph!, node: model.graph!.node.slice(0, 2) } } as ModelProto;
    assert.equal(equalizeCrossLayer(single).changes, 0);
  });
});
