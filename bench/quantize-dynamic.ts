/**
 * `npm run bench:dynamic`: dynamic INT8 (`kiln quantize --mode dynamic`) on the PP-OCRv4
 * recognizer, the bundled model with the most MatMul weights (its SVTR neck and CTC head): size,
 * fusion, character accuracy against FP32 on rendered text lines, and latency measured
 * interleaved with FP32 in one run.
 *
 * Usage: npm run bench:dynamic [-- --samples N] [-- --iterations N]
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { table } from '../src/cli/format.js';
import { compareLatency } from '../src/evaluate/compare-latency.js';
import { scoreText, type TextPair } from '../src/evaluate/text-metrics.js';
import { encodeModel, readModel } from '../src/onnx/index.js';
import { quantizeDynamic } from '../src/quantize/dynamic.js';
import { checkFusion } from '../src/quantize/fusion-check.js';
import { Engine, runtimeVersion, type HostTensor } from '../src/runtime/index.js';
import { generateRecSamples, ppOcrModelPath, readRecText } from '../test/fixtures/ocr-eval.js';

function flag(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  const value = index > 0 ? Number(process.argv[index + 1]) : fallback;
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer`);
  return value;
}

const SAMPLES = flag('--samples', 300);
const ITERATIONS = flag('--iterations', 100);

const folder = mkdtempSync(join(tmpdir(), 'kiln-bench-dynamic-'));
try {
  const floatPath = ppOcrModelPath('rec');
  const dynamicPath = join(folder, 'rec.dynamic.onnx');
  const { model: quantized, report } = quantizeDynamic(readModel(floatPath).model);
  writeFileSync(dynamicPath, encodeModel(quantized));
  const fusion = await checkFusion(dynamicPath, report.quantizedNodes);
  const sizes = [statSync(floatPath).size, statSync(dynamicPath).size];
  console.log(`kiln bench:dynamic — ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} cores), node ${process.version}, onnxruntime-node ${runtimeVersion()}`);
  console.log(`PP-OCRv4 rec: ${report.quantizedNodes.length} MatMul/Gemm quantized (${report.skippedNodes.length} left float: ${[...new Set(report.skippedNodes.map((node) => node.reason))].join('; ') || 'none'})`);
  console.log(`fused: ${fusion.compute.fused}/${fusion.compute.asked} into ${JSON.stringify(fusion.integerKernels)}; size ${(sizes[0]! / 2 ** 20).toFixed(2)} → ${(sizes[1]! / 2 ** 20).toFixed(2)} MiB (${(sizes[1]! / sizes[0]!).toFixed(3)}×)`);
  const worst = Math.min(...report.weightSqnr.values());
  console.log(`weights: lowest SQNR ${worst.toFixed(1)} dB\n`);

  const engines = [await Engine.load(floatPath, { intraOpThreads: 1 }), await Engine.load(dynamicPath, { intraOpThreads: 1 })];
  const pairs: TextPair[][] = [[], []];
  let agree = 0;
  let first: Record<string, HostTensor> | undefined;
  for await (const sample of generateRecSamples({ split: 'evaluation', count: SAMPLES })) {
    first ??= sample.feeds;
    const texts: string[] = [];
    for (const [index, engine] of engines.entries()) {
      const text = readRecText(await engine.run(sample.feeds));
      texts.push(text);
      pairs[index]!.push({ reference: sample.label, hypothesis: text });
    }
    if (texts[0] === texts[1]) agree++;
  }
  const scores = pairs.map((list) => scoreText(list));
  const latency = await compareLatency(engines, [first!, first!], { iterations: ITERATIONS, rounds: 10 });
  console.log(
    table(
      ['model', 'char accuracy %', 'exact lines %', 'p50 ms (batch 1)', 'speed-up'],
      ['FP32', 'dynamic INT8'].map((name, index) => [
        name,
        (100 * scores[index]!.characterAccuracy).toFixed(2),
        (100 * scores[index]!.lineAccuracy).toFixed(2),
        latency[index]!.p50Ms.toFixed(2),
        (latency[0]!.p50Ms / latency[index]!.p50Ms).toFixed(2),
      ]),
    ),
  );
  console.log(`\n${SAMPLES} rendered evaluation lines (seeded); the two models read the same text on ${agree} (${((100 * agree) / SAMPLES).toFixed(1)} %); latency: ${ITERATIONS} runs each, interleaved in 10 rounds, 1 intra-op thread`);
  for (const engine of engines) await engine.release();
} finally {
  rmSync(folder, { recursive: true, force: true });
}
