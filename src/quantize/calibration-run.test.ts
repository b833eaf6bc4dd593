import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { buildMobileNetV2 } from '../../test/fixtures/mobilenet-v2.js';
import { createRandom, normal } from '../../test/fixtures/random.js';
import { makeModel, makeNode, makeValueInfo } from '../onnx/build.js';
import { DataType } from '../onnx/index.js';
import type { ModelProto } from '../onnx/gen/onnx_pb.js';
import { GraphView } from '../onnx/graph.js';
import { PREPARE_PASSES, runPasses } from '../onnx/passes/index.js';
import { Engine } from '../runtime/engine.js';
import { calibrationConfig, createCalibrator, HistogramCalibrator, type CalibrationConfig } from './calibrate/index.js';
import { observeCalibration, type CalibrationRunOptions } from './calibration-run.js';
import type { CalibrationSource, Feeds } from './data/types.js';
import { calibrationTargets } from './targets.js';

const RESOLUTION = 32;
const GRID = { qmin: 0, qmax: 255, symmetric: false };

/** Leading sizes of every feed the calibration runs see (Engine.run wrapped, the real run kept). */
const runs: number[] = [];
const realRun = Engine.prototype.run;
Engine.prototype.run = function (feeds, outputNames) {
  runs.push(Object.values(feeds)[0]!.dims[0]!);
  return realRun.call(this, feeds, outputNames);
};
after(() => {
  Engine.prototype.run = realRun;
});

function images(count: number, input = 'input', shape = [1, 3, RESOLUTION, RESOLUTION]): CalibrationSource {
  return {
    description: `${count} images`,
    count,
    async *samples(): AsyncGenerator<Feeds> {
      const random = createRandom(7);
      for (let index = 0; index < count; index++) yield { [input]: { type: 'float32', dims: shape, data: normal(random, shape.reduce((a, b) => a * b, 1)) } };
    },
  };
}

async function calibrate(model: ModelProto, targets: readonly string[], source: CalibrationSource, config: CalibrationConfig, options: Partial<CalibrationRunOptions> = {}) {
  const calibrator = createCalibrator(config);
  runs.length = 0;
  const progress: number[] = [];
  const samples = await observeCalibration(model, targets, source, { calibrator, intraOpThreads: 1, onProgress: (done) => progress.push(done), ...options });
  return { calibrator, samples, progress, runs: [...runs] };
}

function mobileNet(batch: string | number = 'batch'): { model: ModelProto; targets: string[] } {
  const model = runPasses(buildMobileNetV2({ resolution: RESOLUTION, widthMultiplier: 0.35, numClasses: 10 }), PREPARE_PASSES).model;
  if (batch !== 'batch') {
    const input = model.graph!.input[0]!;
    model.graph!.input[0] = makeValueInfo(input.name, DataType.FLOAT, [batch, 3, RESOLUTION, RESOLUTION]);
    model.graph!.output[0] = makeValueInfo(model.graph!.output[0]!.name, DataType.FLOAT, [batch, 10]);
  }
  return { model, targets: calibrationTargets(new GraphView(model.graph!)) };
}

describe('observeCalibration', () => {
  const { model, targets } = mobileNet();

  it('stacks samples on a free batch axis and gives exactly the one-by-one min-max ranges', async () => {
    const alone = await calibrate(model, targets, images(11), calibrationConfig('minmax'), { maxBatch: 1 });
    assert.deepEqual(alone.runs, Array(11).fill(1));
    const stacked = await calibrate(model, targets, images(11), calibrationConfig('minmax'), { maxBatch: 4 });
    // Sample 0 alone, then a checking run that repeats it (3 new samples), then 4, then 3.
    assert.deepEqual(stacked.runs, [1, 4, 4, 3]);
    assert.equal(stacked.samples, 11);
    assert.deepEqual(stacked.progress, [1, 4, 8, 11]);
    assert.deepEqual(stacked.calibrator.ranges(GRID), alone.calibrator.ranges(GRID));
  });

  it('gives the same histograms, bin for bin, and so the same MSE, entropy and percentile ranges', async () => {
    for (const method of ['mse', 'entropy', 'percentile'] as const) {
      const alone = await calibrate(model, targets, images(9), calibrationConfig(method), { maxBatch: 1 });
      const stacked = await calibrate(model, targets, images(9), calibrationConfig(method), { maxBatch: 3 });
      assert.ok(stacked.runs.length < alone.runs.length, `${method}: stacked runs ${stacked.runs}`);
      const a = alone.calibrator as HistogramCalibrator;
      const b = stacked.calibrator as HistogramCalibrator;
      for (const name of a.tensors()) {
        assert.deepEqual(b.histogram(name)!.positive(), a.histogram(name)!.positive(), `${method} ${name}`);
        assert.deepEqual(b.histogram(name)!.negative(), a.histogram(name)!.negative(), `${method} ${name}`);
      }
      assert.deepEqual(stacked.calibrator.ranges(GRID), alone.calibrator.ranges(GRID), method);
    }
  });

  it('observes in a worker thread with the same summaries as on the main thread', async () => {
    for (const method of ['minmax', 'mse'] as const) {
      const inline = await calibrate(model, targets, images(6), calibrationConfig(method), { observeInThread: false, maxBatch: 1 });
      const threaded = await calibrate(model, targets, images(6), calibrationConfig(method), { observeInThread: true, maxBatch: 1 });
      assert.deepEqual(threaded.calibrator.tensors(), inline.calibrator.tensors());
      assert.deepEqual(threaded.calibrator.snapshot!(), inline.calibrator.snapshot!(), method);
      assert.deepEqual(threaded.calibrator.ranges(GRID), inline.calibrator.ranges(GRID), method);
    }
  });

  it('sizes batches by the bytes of the exposed activations', async () => {
    // A budget below one sample's activations keeps one sample per run.
    const small = await calibrate(model, targets, images(5), calibrationConfig('minmax'), { batchBytes: 1 });
    assert.deepEqual(small.runs, [1, 1, 1, 1, 1]);
  });

  it('runs a fixed batch-1 model one sample at a time', async () => {
    const fixed = mobileNet(1);
    const result = await calibrate(fixed.model, fixed.targets, images(5), calibrationConfig('mse'));
    assert.deepEqual(result.runs, [1, 1, 1, 1, 1]);
    const reference = await calibrate(model, targets, images(5), calibrationConfig('mse'), { maxBatch: 1 });
    assert.deepEqual(result.calibrator.ranges(GRID), reference.calibrator.ranges(GRID));
  });

  it('keeps one sample per run for a min-max moving average (it depends on the grouping)', async () => {
    const result = await calibrate(model, targets, images(4), calibrationConfig('minmax', { movingAverage: true }));
    assert.deepEqual(result.runs, [1, 1, 1, 1]);
  });

  it('falls back to one sample per run when stacking changes the outputs (a leading axis that is not a batch)', async () => {
    // y = x − mean over axis 0: each sample's output depends on the others in a stack.
    const centred = makeModel({
      name: 'centred',
      nodes: [makeNode('ReduceMean', ['x'], ['m'], { attributes: { axes: [0], keepdims: 1 } }), makeNode('Sub', ['x', 'm'], ['y'])],
      inputs: [makeValueInfo('x', DataType.FLOAT, ['n', 4])],
      outputs: [makeValueInfo('y', DataType.FLOAT, ['n', 4])],
      opset: 17,
    });
    const source = images(6, 'x', [2, 4]);
    const alone = await calibrate(centred, ['y'], source, calibrationConfig('minmax'), { maxBatch: 1 });
    const tried = await calibrate(centred, ['y'], source, calibrationConfig('minmax'), { maxBatch: 3 });
    // The checking run [sample 0, 1, 2] differs from sample 0 alone, so 1 and 2 run again alone.
    assert.deepEqual(tried.runs, [2, 6, 2, 2, 2, 2, 2]);
    assert.deepEqual(tried.calibrator.ranges(GRID), alone.calibrator.ranges(GRID));
    assert.equal(tried.samples, 6);
  });

  it('names the sample that does not fit the model while others wait to be stacked', async () => {
    const broken: CalibrationSource = {
      description: 'two good, one wrong size',
      count: 3,
      async *samples() {
        yield* images(2).samples();
        yield { input: { type: 'float32', dims: [1, 3, RESOLUTION + 3, RESOLUTION], data: new Float32Array(3 * (RESOLUTION + 3) * RESOLUTION) } };
      },
    };
    await assert.rejects(calibrate(model, targets, broken, calibrationConfig('minmax'), { maxBatch: 4 }), /calibration sample 2: input 'input' has size 35 on axis 2/);
  });
});
