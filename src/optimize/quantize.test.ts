import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isKilnError } from '../core/errors.js';
import { seededRandom } from '../core/random.js';
import { DataType, encodeModel, encodeTensor, makeModel, makeNode, makeValueInfo } from '../onnx/index.js';
import { calibrationConfig } from '../quantize/calibrate/index.js';
import type { CalibrationSource } from '../quantize/data/types.js';
import { compareModels } from './compare.js';
import { quantize, readInput } from './quantize.js';
import type { QuantizeProgress } from './types.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-optimize-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function values(count: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: count }, () => random() * 2 - 1);
}

/** x [N,32] → MatMul W [32,16] → Relu → Gemm W2 [16,4] → y [N,4]: a tiny classifier every mode applies to. */
const modelPath = join(dir, 'mlp.onnx');
writeFileSync(
  modelPath,
  encodeModel(
    makeModel({
      name: 'mlp',
      nodes: [makeNode('MatMul', ['x', 'W'], ['h'], { name: 'fc1' }), makeNode('Relu', ['h'], ['a'], { name: 'relu' }), makeNode('Gemm', ['a', 'W2', 'b2'], ['y'], { name: 'fc2' })],
      inputs: [makeValueInfo('x', DataType.FLOAT, ['N', 32])],
      outputs: [makeValueInfo('y', DataType.FLOAT, ['N', 4])],
      initializers: [
        encodeTensor({ name: 'W', dataType: DataType.FLOAT, dims: [32, 16], data: values(512, 1) }),
        encodeTensor({ name: 'W2', dataType: DataType.FLOAT, dims: [16, 4], data: values(64, 2) }),
        encodeTensor({ name: 'b2', dataType: DataType.FLOAT, dims: [4], data: values(4, 3) }),
      ],
    }),
  ),
);

function samples(count: number): CalibrationSource {
  return {
    description: `${count} seeded samples`,
    count,
    async *samples() {
      for (let seed = 0; seed < count; seed++) yield { x: { type: 'float32', dims: [1, 32], data: values(32, 100 + seed) } };
    },
  };
}

const STATIC = { kind: 'static', calibration: calibrationConfig('minmax'), scheme: 'U8S8', perChannel: true, reduceRange: false, excludeNodes: [], excludeOpTypes: [] } as const;

describe('quantize (the library pipeline)', () => {
  it('static: one report with sizes, nodes by op, fusion, SQNR per output, calibration and timing; progress through a callback', async () => {
    const progress: QuantizeProgress[] = [];
    const output = join(dir, 'static.onnx');
    const report = await quantize(modelPath, { mode: STATIC, output, data: { source: samples(8) }, sqnrSamples: 4, onProgress: (event) => progress.push(event) });
    assert.equal(report.mode, 'static');
    assert.deepEqual(report.calibration, { method: 'minmax', samples: 8 });
    assert.deepEqual(report.byOp, { Gemm: 1, MatMul: 1 });
    assert.equal(report.fusion.compute.fused, 2);
    assert.ok(report.sizeRatio < 1 && report.output.bytes > 0);
    assert.ok(report.sqnr!['y']! > 25, `SQNR ${report.sqnr!['y']}`);
    assert.ok(report.timing.totalMs >= report.timing.quantizeMs);
    assert.deepEqual(progress.filter((event) => event.phase === 'calibrate').at(-1), { phase: 'calibrate', done: 8, total: 8 });
    assert.deepEqual(progress.filter((event) => event.phase === 'sqnr').map((event) => event.done), [1, 2, 3, 4]);
  });

  it('runs every mode from one parsed model, and refuses an existing output without force, leaving no temp file', async () => {
    const parsed = readInput(modelPath);
    const before = encodeModel(parsed.model);
    const dynamic = await quantize(parsed, { mode: { kind: 'dynamic', perChannel: true, excludeNodes: [] }, output: join(dir, 'dynamic.onnx') });
    assert.deepEqual(dynamic.calibration, { dynamic: true });
    assert.equal(dynamic.sqnr, undefined, 'no data, no SQNR');
    const half = await quantize(parsed, { mode: { kind: 'fp16', excludeNodes: [], excludeOpTypes: [] }, output: join(dir, 'fp16.onnx'), data: { source: samples(2) } });
    assert.ok(half.fp16!.convertedInitializers >= 3);
    assert.ok(half.sqnr!['y']! > 40);
    await assert.rejects(
      quantize(parsed, { mode: { kind: 'fp16', excludeNodes: [], excludeOpTypes: [] }, output: join(dir, 'fp16.onnx') }),
      (error) => isKilnError(error) && error.code === 'KILN_IO_OUTPUT_EXISTS',
    );
    assert.deepEqual(readdirSync(dir).filter((name) => name.endsWith('.tmp')), []);
    await quantize(parsed, { mode: STATIC, output: join(dir, 'static-again.onnx'), data: { source: samples(2) } });
    // One parse serves every mode only because no mode changes the model it was given.
    assert.deepEqual(encodeModel(parsed.model), before);
  });

  it('compareModels: latency at batch 1 and 8 for each model, fidelity to the first', async () => {
    const result = await compareModels([modelPath, join(dir, 'static.onnx')], { iterations: 3, warmup: 1 });
    assert.deepEqual(result.models.map((model) => model.latency.map((entry) => entry.batch)), [[1, 8], [1, 8]]);
    assert.equal(result.data, undefined);
    assert.equal(result.models[1]!.fidelity, undefined, 'no data, no fidelity');
  });
});
