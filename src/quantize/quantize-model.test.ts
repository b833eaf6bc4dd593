import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isKilnError } from '../core/errors.js';
import { encodeModel, makeModel, makeNode, makeValueInfo, DataType } from '../onnx/index.js';
import { Engine, makeFeeds } from '../runtime/index.js';
import { opFixtureByName } from '../../test/fixtures/ops.js';
import type { CalibrationSource } from './data/types.js';
import { quantizeModel } from './quantize-model.js';

async function source(model: ReturnType<typeof makeModel>, count: number): Promise<CalibrationSource> {
  const engine = await Engine.load(encodeModel(model));
  const inputs = engine.inputs;
  await engine.release();
  return {
    description: `${count} samples`,
    count,
    async *samples() {
      for (let seed = 1; seed <= count; seed++) yield makeFeeds(inputs, { seed });
    },
  };
}

describe('quantizeModel', () => {
  it('leaves an excluded node in float', async () => {
    const model = opFixtureByName('conv').build();
    const { model: quantized, report } = await quantizeModel(model, await source(model, 2), { excludeNodes: ['conv'] });
    assert.equal(report.quantizedNodes.length, 0);
    assert.ok(!quantized.graph!.node.some((node) => node.opType === 'QuantizeLinear'));
  });

  it('refuses to exclude a node that does not exist', async () => {
    const model = opFixtureByName('conv').build();
    await assert.rejects(quantizeModel(model, await source(model, 1), { excludeNodes: ['nope'] }), (error) => {
      assert.ok(isKilnError(error, 'KILN_CORE_INVALID_ARGUMENT'));
      assert.match(error.message, /no node named 'nope' to exclude/);
      return true;
    });
  });

  it('refuses empty calibration data', async () => {
    const model = opFixtureByName('conv').build();
    const empty: CalibrationSource = { description: 'an empty folder', count: 0, async *samples() {} };
    await assert.rejects(quantizeModel(model, empty), (error) => isKilnError(error, 'KILN_QUANTIZE_CALIBRATION_INVALID') && /empty/.test(error.message));
  });

  /** Conv → Relu → MaxPool; `features` (the Conv's output) optionally also a graph output. */
  function convRelu(featuresIsOutput = false) {
    const graph = opFixtureByName('conv').build().graph!;
    return makeModel({
      name: 'conv-relu',
      nodes: [
        makeNode('Conv', graph.node[0]!.input, ['features'], { name: 'conv', attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } }),
        makeNode('Relu', ['features'], ['activated'], { name: 'relu' }),
        makeNode('MaxPool', ['activated'], ['output'], { name: 'pool', attributes: { kernel_shape: [2, 2], strides: [2, 2] } }),
      ],
      inputs: [...graph.input],
      outputs: [
        makeValueInfo('output', DataType.FLOAT, [1, 8, 4, 4]),
        ...(featuresIsOutput ? [makeValueInfo('features', DataType.FLOAT, [1, 8, 8, 8])] : []),
      ],
      initializers: [...graph.initializer],
    });
  }

  it('does not observe a tensor only an absorbable Relu reads, and quantizes exactly as if it had', async () => {
    const model = convRelu();
    const { model: quantized, report } = await quantizeModel(model, await source(model, 4));
    assert.ok(!report.ranges.has('features'), 'the Conv output feeding the Relu is not calibrated');
    assert.ok(report.ranges.has('activated'));
    // A ranges file from before (with the Conv output's own range) gives the same bytes.
    const withFeatures = new Map(report.ranges);
    withFeatures.set('features', { min: -3, max: 4 });
    const replayed = await quantizeModel(model, undefined, { ranges: withFeatures });
    assert.deepEqual(encodeModel(replayed.model), encodeModel(quantized));
  });

  it('still observes that tensor when the Relu cannot be absorbed, and keeps the Relu', async () => {
    const model = convRelu(true);
    const { model: quantized, report } = await quantizeModel(model, await source(model, 4));
    assert.ok(report.ranges.has('features'), 'a graph output must keep its own range');
    assert.equal(report.absorbed, 0);
    assert.ok(quantized.graph!.node.some((node) => node.opType === 'Relu'));
    // The float Relu breaks the integer island: the MaxPool after it has nothing to join.
    assert.deepEqual(report.quantizedNodes.map((node) => node.name), ['conv']);
  });

  it('keeps the Relu and the Conv in float when the Conv is excluded, without its output range', async () => {
    const model = convRelu();
    const { model: quantized, report } = await quantizeModel(model, await source(model, 4), { excludeNodes: ['conv'] });
    assert.equal(report.absorbed, 0);
    assert.deepEqual(report.quantizedNodes, []);
    assert.ok(quantized.graph!.node.some((node) => node.opType === 'Relu'));
    assert.ok(!quantized.graph!.node.some((node) => node.opType === 'QuantizeLinear'));
    const engine = await Engine.load(encodeModel(quantized));
    try {
      await engine.run(makeFeeds(engine.inputs, { seed: 1 }));
    } finally {
      await engine.release();
    }
  });

  it('absorbs Relu into the Conv before it and keeps one quantized tensor for both', async () => {
    const conv = opFixtureByName('conv').build();
    const graph = conv.graph!;
    const model = makeModel({
      name: 'conv-relu',
      nodes: [
        makeNode('Conv', graph.node[0]!.input, ['features'], { name: 'conv', attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } }),
        makeNode('Relu', ['features'], ['activated'], { name: 'relu' }),
        makeNode('MaxPool', ['activated'], ['output'], { name: 'pool', attributes: { kernel_shape: [2, 2], strides: [2, 2] } }),
      ],
      inputs: [...graph.input],
      outputs: [makeValueInfo('output', DataType.FLOAT, [1, 8, 4, 4])],
      initializers: [...graph.initializer],
    });
    const { model: quantized, report } = await quantizeModel(model, await source(model, 4));
    assert.equal(report.absorbed, 1);
    assert.ok(!quantized.graph!.node.some((node) => node.opType === 'Relu'));
    // The Conv now writes the Relu's output, whose range starts at 0: zero point 0, so the Q
    // clamps exactly where Relu did; the MaxPool shares those parameters.
    assert.equal(quantized.graph!.node.find((node) => node.name === 'conv')!.output[0], 'activated');
    const zeroPoint = quantized.graph!.initializer.find((tensor) => tensor.name === 'activated_zp')!;
    assert.deepEqual([...zeroPoint.rawData], [0]);
    assert.deepEqual(report.quantizedNodes.map((node) => node.name).sort(), ['conv', 'pool']);
  });
});
