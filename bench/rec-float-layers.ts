/**
 * PP-OCRv4 recognizer, character accuracy of three models side by side: FP32, fully INT8, and
 * INT8 with every Conv and MatMul kept float (other ops INT8), from one calibration. With the
 * float layers really float that last one must land between the other two, near FP32.
 *
 *   npx tsx bench/rec-float-layers.ts [--calib 64] [--eval 300] [--threads 1]
 */
import { parseArgs } from 'node:util';
import { scoreText } from '../src/evaluate/text-metrics.js';
import { encodeModel, readModel } from '../src/onnx/index.js';
import { PREPARE_PASSES, runPasses } from '../src/onnx/passes/index.js';
import { quantizeModel, type CalibrationSource } from '../src/quantize/index.js';
import { nodeLabel } from '../src/quantize/plan.js';
import { Engine, runtimeVersion } from '../src/runtime/index.js';
import { collectSamples, generateRecSamples, ppOcrModelPath, readRecText } from '../test/fixtures/ocr-eval.js';

const { values: flags } = parseArgs({
  options: { calib: { type: 'string', default: '64' }, eval: { type: 'string', default: '300' }, threads: { type: 'string', default: '1' } },
});
const threads = Number(flags.threads);
const calib = await collectSamples(generateRecSamples({ split: 'calibration', count: Number(flags.calib), seed: 1 }));
// The held-out lines of bench/accuracy-budget.ts: another seed, sizes, contrast and noise.
const heldOut = await collectSamples(
  generateRecSamples({ split: 'evaluation', count: Number(flags.eval), seed: 7, variation: { fontSize: [12, 30], contrast: [40, 160], noise: 14, blurChance: 0.5 } }),
);
const source: CalibrationSource = {
  description: `${calib.length} calibration lines`,
  count: calib.length,
  async *samples() {
    for (const sample of calib) yield sample.feeds;
  },
};

async function accuracy(bytes: Uint8Array): Promise<string> {
  const engine = await Engine.load(bytes, { intraOpThreads: threads, label: 'rec' });
  const pairs = [];
  try {
    for (const sample of heldOut) pairs.push({ reference: sample.label, hypothesis: readRecText(await engine.run(sample.feeds)) });
  } finally {
    await engine.release();
  }
  return `${(scoreText(pairs).characterAccuracy * 100).toFixed(2)} %`;
}

const prepared = runPasses(readModel(ppOcrModelPath('rec')).model, PREPARE_PASSES).model;
const full = await quantizeModel(prepared, source, { intraOpThreads: threads });
const weighted = prepared.graph!.node.filter((node) => node.opType === 'Conv' || node.opType === 'MatMul').map(nodeLabel);
const floatLayers = await quantizeModel(prepared, undefined, { ranges: full.report.ranges, excludeNodes: weighted });
console.log(`PP-OCRv4 rec, ${heldOut.length} held-out lines, ${calib.length} calibration lines, onnxruntime-node ${runtimeVersion()}`);
console.log(`FP32                              ${await accuracy(encodeModel(prepared))}`);
console.log(`INT8                              ${await accuracy(encodeModel(full.model))}`);
console.log(`INT8, ${weighted.length} Conv/MatMul float        ${await accuracy(encodeModel(floatLayers.model))}`);
