/**
 * `npm run bench:quantize`: the MobileNetV2-shaped fixture through `quantizeModel` with
 * default settings, then measured against its FP32 model:
 *   - size ratio, fusion (Conv/MatMul/Gemm that became integer kernels);
 *   - fidelity on held-out inputs: logits SQNR and top-1 agreement with FP32, at batch 1, and
 *     batch 8 through the dynamic batch axis (compared against the batch-1 results);
 *   - latency INT8 vs FP32 at batch 1 and 8, interleaved in one run (the same code as
 *     `kiln bench fp32.onnx int8.onnx`), with the speed-up as a ratio.
 * Inputs are seeded N(0, 1) images (the fixture's BN statistics assume normalized input).
 *
 * Usage: npm run bench:quantize [-- --calib 64 --eval 64 --iterations 200 --threads 1 --method mse --out DIR]
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { table } from '../src/cli/format.js';
import { seededRandom } from '../src/core/random.js';
import { argmax, SqnrAccumulator } from '../src/evaluate/fidelity.js';
import { writeModel } from '../src/onnx/index.js';
import { calibrationConfig, parseCalibrationMethod } from '../src/quantize/calibrate/index.js';
import type { CalibrationSource, Feeds } from '../src/quantize/data/types.js';
import { compareModels } from '../src/optimize/compare.js';
import { quantize } from '../src/optimize/quantize.js';
import { Engine } from '../src/runtime/index.js';
import { buildMobileNetV2 } from '../test/fixtures/mobilenet-v2.js';

const { values: flags } = parseArgs({
  options: {
    calib: { type: 'string', default: '64' },
    eval: { type: 'string', default: '64' },
    iterations: { type: 'string', default: '200' },
    threads: { type: 'string', default: '1' },
    method: { type: 'string', default: 'mse' },
    out: { type: 'string', default: '/tmp/kiln-bench-mobilenet' },
  },
});

const RESOLUTION = 224;
const CLASSES = 1000;

/** A seeded N(0, 1) image batch (Box–Muller). */
function gaussianImage(seed: number, batch = 1): Feeds {
  const random = seededRandom(seed);
  const data = new Float32Array(batch * 3 * RESOLUTION * RESOLUTION);
  for (let index = 0; index < data.length; index += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - random()));
    const angle = 2 * Math.PI * random();
    data[index] = radius * Math.cos(angle);
    if (index + 1 < data.length) data[index + 1] = radius * Math.sin(angle);
  }
  return { input: { type: 'float32', dims: [batch, 3, RESOLUTION, RESOLUTION], data } };
}

function source(first: number, count: number): CalibrationSource {
  return {
    description: `${count} seeded N(0,1) images`,
    count,
    async *samples() {
      for (let seed = first; seed < first + count; seed++) yield gaussianImage(seed);
    },
  };
}

const calibCount = Number(flags.calib);
const evalCount = Number(flags.eval);
mkdirSync(flags.out, { recursive: true });
const fp32Path = join(flags.out, 'mobilenet-v2.fp32.onnx');
const int8Path = join(flags.out, 'mobilenet-v2.int8.onnx');
const model = buildMobileNetV2();
writeModel(model, fp32Path);

// The library's pipeline, on the model already in memory: quantize, write, fusion check.
const report = await quantize(
  { path: fp32Path, model },
  {
    mode: { kind: 'static', calibration: calibrationConfig(parseCalibrationMethod(flags.method)), scheme: 'U8S8', perChannel: true, reduceRange: false, excludeNodes: [], excludeOpTypes: [] },
    output: int8Path,
    force: true,
    data: { source: source(1, calibCount) },
    sqnrSamples: 0,
  },
);
const quantizeSeconds = report.timing.quantizeMs / 1000;
const { fusion } = report;
const [fp32Bytes, int8Bytes] = [report.input.bytes, report.output.bytes];

// Fidelity on held-out seeds (calibration used 1..calib; evaluation starts at 100000).
const fp32 = await Engine.load(fp32Path, { intraOpThreads: Number(flags.threads) });
const int8 = await Engine.load(int8Path, { intraOpThreads: Number(flags.threads) });
const sqnr = new SqnrAccumulator();
let agree = 0;
const batchOne: Float32Array[] = [];
for (let index = 0; index < evalCount; index++) {
  const feeds = gaussianImage(100_000 + index);
  const reference = (await fp32.run(feeds))['logits']!.data as Float32Array;
  const actual = (await int8.run(feeds))['logits']!.data as Float32Array;
  sqnr.add(reference, actual);
  if (argmax(reference) === argmax(actual)) agree++;
  batchOne.push(actual);
}
// Batch 8 through the dynamic axis: the same 8 images at once must give the batch-1 logits.
const eight = new Float32Array(8 * 3 * RESOLUTION * RESOLUTION);
for (let index = 0; index < 8; index++) eight.set(gaussianImage(100_000 + index).input!.data as Float32Array, index * 3 * RESOLUTION * RESOLUTION);
const batched = (await int8.run({ input: { type: 'float32', dims: [8, 3, RESOLUTION, RESOLUTION], data: eight } }))['logits']!;
const batchConsistency = new SqnrAccumulator();
for (let index = 0; index < Math.min(8, evalCount); index++) {
  batchConsistency.add(batchOne[index]!, (batched.data as Float32Array).subarray(index * CLASSES, (index + 1) * CLASSES));
}
await fp32.release();
await int8.release();

const latency = await compareModels([fp32Path, int8Path], {
  batches: [1, 8],
  intraOpThreads: Number(flags.threads),
  iterations: Number(flags.iterations),
  warmup: 10,
});

console.log(`MobileNetV2 fixture (${RESOLUTION}×${RESOLUTION}, ${CLASSES} classes), ${latency.environment.cpu}, onnxruntime ${latency.environment.onnxruntime}`);
console.log(`calibration: ${flags.method}, ${calibCount} samples, ${quantizeSeconds.toFixed(1)} s; evaluation: ${evalCount} held-out samples\n`);
console.log(
  table(
    ['measure', 'value'],
    [
      ['BatchNormalization folded', String(report.passes?.find((pass) => pass.name === 'fold-batchnorm')?.changes ?? 0)],
      ['size FP32 → INT8', `${(fp32Bytes / 2 ** 20).toFixed(2)} MiB → ${(int8Bytes / 2 ** 20).toFixed(2)} MiB (${(int8Bytes / fp32Bytes).toFixed(3)}×)`],
      ['Conv/MatMul/Gemm fused', `${fusion.compute.fused}/${fusion.compute.asked}`],
      ['all quantized nodes fused', `${fusion.fused}/${fusion.outcomes.length}`],
      ['Relu/Clip absorbed', String(report.absorbed)],
      ['logits SQNR (batch 1)', `${sqnr.db().toFixed(2)} dB`],
      ['top-1 agreement with FP32', `${agree}/${evalCount} (${((100 * agree) / evalCount).toFixed(1)}%)`],
      ['batch 8 vs batch 1 logits (INT8)', `${batchConsistency.db().toFixed(1)} dB SQNR`],
    ],
  ),
);
console.log('');
console.log(
  table(
    ['model', 'threads', 'batch', 'p50 ms', 'p90 ms', 'INT8 speed-up'],
    [0, 1].flatMap((batchIndex) =>
      latency.models.map((entry, index) => {
        const row = entry.latency[batchIndex]!;
        const speedup = latency.models[0]!.latency[batchIndex]!.p50Ms / row.p50Ms;
        return [index === 1 ? 'INT8' : 'FP32', flags.threads, String(row.batch), row.p50Ms.toFixed(2), row.p90Ms.toFixed(2), index === 1 ? `${speedup.toFixed(2)}×` : ''];
      }),
    ),
  ),
);
console.log(`\nthe same comparison from the CLI: npx kiln compare ${fp32Path} ${int8Path}; or: npx kiln bench ${fp32Path} ${int8Path} --shape input=1,3,${RESOLUTION},${RESOLUTION} --batch 1,8 --threads ${flags.threads} --iterations ${flags.iterations}`);
