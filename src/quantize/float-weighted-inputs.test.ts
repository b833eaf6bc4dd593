import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildDepthwiseSeparable } from '../../test/fixtures/budget-models.js';
import { decodeTensor } from '../onnx/tensor.js';
import { DataType, encodeModel, encodeTensor, makeModel, makeNode, makeValueInfo, readModel } from '../onnx/index.js';
import { PREPARE_PASSES, runPasses } from '../onnx/passes/index.js';
import { Engine, makeFeeds, type TensorSignature } from '../runtime/index.js';
import { outputFidelity } from './budget/output-fidelity.js';
import type { CalibrationSource, Feeds } from './data/types.js';
import { quantizeModel } from './quantize-model.js';

const SIGNATURE = [{ name: 'input', type: 'float32', shape: [1, 3, 32, 32] }] as unknown as TensorSignature[];
const feeds = (first: number, count: number): Feeds[] => Array.from({ length: count }, (_, index) => makeFeeds(SIGNATURE, { seed: first + index }));
const calibration: CalibrationSource = {
  description: '8 seeded inputs',
  count: 8,
  async *samples() {
    yield* feeds(1, 8);
  },
};

/** Depthwise channels 1000× apart in scale, compensated by the pointwise conv `block0.pw`. */
const prepared = () => runPasses(buildDepthwiseSeparable({ imbalance: 1000, widths: [8, 16] }), PREPARE_PASSES).model;

describe('float Conv between quantized tensors', () => {
  it('keeps its weight float in ONNX Runtime, so excluding it never costs SQNR', async () => {
    const model = prepared();
    const full = await quantizeModel(model, calibration);
    const excluded = await quantizeModel(model, undefined, { ranges: full.report.ranges, excludeNodes: ['block0.pw'] });
    const metric = await outputFidelity(encodeModel(model), feeds(100, 4), { intraOpThreads: 1 });
    const fullDb = await metric(encodeModel(full.model));
    const excludedDb = await metric(encodeModel(excluded.model));
    // Before the guard ORT quantized the excluded conv's weight per tensor: 5.7 dB vs 8.6 dB.
    assert.ok(excludedDb >= fullDb, `excluded ${excludedDb.toFixed(2)} dB < fully quantized ${fullDb.toFixed(2)} dB`);

    // The float conv reads its own per-channel DQ of the shared Q (same scale in every channel).
    const graph = excluded.model.graph!;
    const conv = graph.node.find((node) => node.name === 'block0.pw')!;
    assert.ok(!conv.input.slice(1).some((name) => name.endsWith('_dq')), 'weight and bias stay float');
    const dq = graph.node.find((node) => node.output[0] === conv.input[0])!;
    assert.equal(dq.opType, 'DequantizeLinear');
    assert.equal(dq.attribute.find((attribute) => attribute.name === 'axis')?.i, 1n);
    const scale = [...(decodeTensor(graph.initializer.find((tensor) => tensor.name === dq.input[1])!).data as Float32Array)];
    assert.equal(scale.length, 8);
    assert.equal(new Set(scale).size, 1);
    const shared = graph.node.find((node) => node.opType === 'DequantizeLinear' && node.input[0] === dq.input[0] && node !== dq)!;
    assert.equal(decodeTensor(graph.initializer.find((tensor) => tensor.name === shared.input[1])!).data[0], scale[0]);

    // And ONNX Runtime's optimized graph runs it as a float Conv, not a QLinearConv.
    const dir = await mkdtemp(join(tmpdir(), 'kiln-float-conv-'));
    try {
      const path = join(dir, 'optimized.onnx');
      const engine = await Engine.load(encodeModel(excluded.model), { intraOpThreads: 1, optimizedModelPath: path });
      await engine.release();
      const optimized = readModel(path).model.graph!.node;
      const ops = optimized.map((node) => node.opType);
      assert.deepEqual([ops.filter((op) => op === 'QLinearConv').length, ops.filter((op) => op === 'Conv').length], [4, 1], ops.join(' '));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('with one input channel, reads the float tensor itself (a per-channel scale would be a scalar)', async () => {
    const weight = (name: string, seed: number) =>
      encodeTensor({ name, dataType: DataType.FLOAT, dims: [4, 1, 3, 3], data: Float32Array.from({ length: 36 }, (_, index) => Math.sin(index * seed)) });
    const conv = (name: string) => makeNode('Conv', ['input', `${name}.weight`], [name], { name, attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } });
    const model = makeModel({
      name: 'one-channel',
      nodes: [conv('a'), conv('b'), makeNode('Add', ['a', 'b'], ['output'], { name: 'add' })],
      inputs: [makeValueInfo('input', DataType.FLOAT, [1, 1, 8, 8])],
      outputs: [makeValueInfo('output', DataType.FLOAT, [1, 4, 8, 8])],
      initializers: [weight('a.weight', 1), weight('b.weight', 2)],
      opset: 17,
    });
    const signature = [{ name: 'input', type: 'float32', shape: [1, 1, 8, 8] }] as unknown as TensorSignature[];
    const source: CalibrationSource = {
      description: '4 seeded inputs',
      count: 4,
      async *samples() {
        for (let seed = 1; seed <= 4; seed++) yield makeFeeds(signature, { seed });
      },
    };
    const { model: quantized, report } = await quantizeModel(model, source, { excludeNodes: ['b'] });
    assert.deepEqual(report.quantizedNodes.map((node) => node.name).sort(), ['a', 'add']);
    const graph = quantized.graph!;
    assert.equal(graph.node.find((node) => node.name === 'b')!.input[0], 'input');
    assert.equal(graph.node.find((node) => node.name === 'a')!.input[0], 'input_dq');
  });
});
