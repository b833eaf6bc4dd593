/**
 * ConvTranspose stays float, and why. onnxruntime-node 1.30's CPU provider has no QDQ rule for
 * ConvTranspose (its QDQ selector/action transformer registers the Conv rule for Conv only), and
 * QLinearConvTranspose is used by the XNNPACK/NNAPI providers, not by the CPU one. A DQ → ConvTranspose → Q island
 * would run as a float ConvTranspose between a DequantizeLinear and a QuantizeLinear: slower
 * than float and less accurate. The first test pins that ORT fact (it fails the day an ORT
 * upgrade fuses it: then ConvTranspose deserves an op quantizer); the second pins what kiln
 * does with a Conv → ConvTranspose → Conv decoder.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqnrAccumulator } from '../../../src/evaluate/fidelity.js';
import { DataType, encodeModel, encodeTensor, makeModel, makeNode, makeValueInfo, writeModel, type proto } from '../../../src/onnx/index.js';
import { Engine, type HostTensor } from '../../../src/runtime/index.js';
import type { CalibrationSource } from '../../../src/quantize/data/types.js';
import { checkFusion } from '../../../src/quantize/fusion-check.js';
import type { QuantScheme } from '../../../src/quantize/options.js';
import { quantizeModel } from '../../../src/quantize/quantize-model.js';
import { convTransposeBetweenConvs } from '../../fixtures/quantize-ops.js';
import { createRandom, heNormal, normal } from '../../fixtures/random.js';

const folder = mkdtempSync(join(tmpdir(), 'kiln-conv-transpose-'));
after(() => rmSync(folder, { recursive: true, force: true }));

const INPUT_DIMS = [1, 4, 8, 8];

/** N(0, 1) input for the fixture, seeded. */
function gaussianFeeds(seed: number): Record<string, HostTensor> {
  return { input: { type: 'float32', dims: INPUT_DIMS, data: normal(createRandom(seed), 4 * 8 * 8) } };
}

function gaussianSource(count: number): CalibrationSource {
  return {
    description: `${count} N(0,1) samples`,
    count,
    async *samples() {
      for (let seed = 1; seed <= count; seed++) yield gaussianFeeds(seed);
    },
  };
}

/**
 * input → Q → DQ → ConvTranspose(DQ(int8 weight), DQ(int32 bias)) → Q → DQ → output: the QDQ form
 * ORT's Conv rule turns into QLinearConv, here around a ConvTranspose [8, 6, 2, 2].
 */
function qdqConvTranspose(weightAxis: number | undefined, activation: 'uint8' | 'int8'): proto.ModelProto {
  const random = createRandom(3);
  const channels = weightAxis === undefined ? 1 : 6;
  const activationType = activation === 'uint8' ? DataType.UINT8 : DataType.INT8;
  const zeroPoint = (name: string) =>
    encodeTensor({ name, dataType: activationType, dims: [], data: activation === 'uint8' ? Uint8Array.of(128) : Int8Array.of(0) });
  const scale = (name: string, values: readonly number[], dims: readonly number[]) =>
    encodeTensor({ name, dataType: DataType.FLOAT, dims, data: Float32Array.from(values) });
  const weightScales = Array.from({ length: channels }, (_, channel) => 0.01 + channel * 0.002);
  return makeModel({
    name: 'qdq-conv-transpose',
    nodes: [
      makeNode('QuantizeLinear', ['input', 'x.scale', 'x.zero'], ['x.q'], { name: 'x.quantize' }),
      makeNode('DequantizeLinear', ['x.q', 'x.scale', 'x.zero'], ['x.dq'], { name: 'x.dequantize' }),
      makeNode('DequantizeLinear', ['w.q', 'w.scale', 'w.zero'], ['w.dq'], { name: 'w.dequantize', ...(weightAxis === undefined ? {} : { attributes: { axis: weightAxis } }) }),
      makeNode('DequantizeLinear', ['b.q', 'b.scale'], ['b.dq'], { name: 'b.dequantize', attributes: { axis: 0 } }),
      makeNode('ConvTranspose', ['x.dq', 'w.dq', 'b.dq'], ['y'], { name: 'deconv', attributes: { kernel_shape: [2, 2], strides: [2, 2] } }),
      makeNode('QuantizeLinear', ['y', 'y.scale', 'y.zero'], ['y.q'], { name: 'y.quantize' }),
      makeNode('DequantizeLinear', ['y.q', 'y.scale', 'y.zero'], ['output'], { name: 'y.dequantize' }),
    ],
    inputs: [makeValueInfo('input', DataType.FLOAT, [1, 8, 8, 8])],
    outputs: [makeValueInfo('output', DataType.FLOAT, [1, 6, 16, 16])],
    initializers: [
      scale('x.scale', [0.02], []),
      zeroPoint('x.zero'),
      encodeTensor({ name: 'w.q', dataType: DataType.INT8, dims: [8, 6, 2, 2], data: Int8Array.from(heNormal(random, [8, 6, 2, 2]), (value) => Math.max(-127, Math.min(127, Math.round(value * 60)))) }),
      scale('w.scale', weightScales, weightAxis === undefined ? [] : [channels]),
      encodeTensor({ name: 'w.zero', dataType: DataType.INT8, dims: weightAxis === undefined ? [] : [channels], data: new Int8Array(channels) }),
      encodeTensor({ name: 'b.q', dataType: DataType.INT32, dims: [6], data: Int32Array.of(100, -50, 0, 25, -75, 10) }),
      scale('b.scale', Array.from({ length: 6 }, (_, channel) => 0.02 * weightScales[weightAxis === undefined ? 0 : channel]!), [6]),
      scale('y.scale', [0.05], []),
      zeroPoint('y.zero'),
    ],
    opset: 17,
  });
}

describe('ConvTranspose', () => {
  const variants: { readonly label: string; readonly axis: number | undefined; readonly scheme: QuantScheme }[] = [
    { label: 'U8S8, per-tensor weight', axis: undefined, scheme: 'U8S8' },
    { label: 'U8S8, per-channel weight (axis 1)', axis: 1, scheme: 'U8S8' },
    { label: 'S8S8, per-tensor weight', axis: undefined, scheme: 'S8S8' },
  ];
  for (const { label, axis, scheme } of variants) {
    it(`onnxruntime does not fuse a QDQ ConvTranspose on CPU (${label})`, async () => {
      const path = join(folder, `qdq-${scheme}-${axis ?? 'tensor'}.onnx`);
      writeModel(qdqConvTranspose(axis, scheme === 'U8S8' ? 'uint8' : 'int8'), path);
      const report = await checkFusion(path, [{ name: 'deconv', opType: 'ConvTranspose', fusedOps: ['QLinearConvTranspose'] }], scheme);
      assert.deepEqual(report.outcomes[0], { name: 'deconv', opType: 'ConvTranspose', fused: false, became: 'ConvTranspose' });
      assert.deepEqual(report.integerKernels, {});
    });
  }

  it('kiln quantizes the Convs around a ConvTranspose and leaves it float', async () => {
    const model = convTransposeBetweenConvs('deconv', 1).build();
    const { model: quantized, report } = await quantizeModel(model, gaussianSource(16));
    assert.deepEqual(report.quantizedNodes.map((node) => node.name).sort(), ['decoder', 'encoder']);
    const deconv = quantized.graph!.node.find((node) => node.name === 'deconv')!;
    assert.equal(deconv.opType, 'ConvTranspose');
    // Its weight and bias are the float initializers, not DequantizeLinear outputs.
    assert.deepEqual(deconv.input.slice(1), ['up.weight', 'up.bias']);

    const path = join(folder, 'decoder.onnx');
    writeModel(quantized, path);
    const fusion = await checkFusion(path, report.quantizedNodes);
    assert.deepEqual(fusion.compute, { asked: 2, fused: 2 });
    assert.deepEqual(fusion.integerKernels, { QLinearConv: 2 });

    const reference = await Engine.load(encodeModel(model));
    const int8 = await Engine.load(path);
    const sqnr = new SqnrAccumulator();
    for (let seed = 1001; seed < 1009; seed++) {
      const feeds = gaussianFeeds(seed);
      const [expected, actual] = [await reference.run(feeds), await int8.run(feeds)];
      sqnr.add(expected.output!.data as Float32Array, actual.output!.data as Float32Array);
    }
    await reference.release();
    await int8.release();
    assert.ok(sqnr.db() >= 25, `SQNR ${sqnr.db().toFixed(1)} dB < 25`);
  });
});
