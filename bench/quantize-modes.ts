/**
 * `npm run bench:modes`: the two calibration-free modes of `kiln quantize` on the PP-OCRv4
 * recognizer, the bundled model with the most MatMul weights (its SVTR neck and CTC head):
 * dynamic INT8 (`--mode dynamic`) and FP16 (`--mode fp16`). For each: size, what was converted,
 * character accuracy against FP32 on rendered text lines, and latency measured interleaved with
 * FP32 in one run.
 *
 * Usage: npm run bench:modes [-- --samples N] [-- --iterations N]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { table } from '../src/cli/format.js';
import { compareLatency } from '../src/evaluate/compare-latency.js';
import { scoreText, type TextPair } from '../src/evaluate/text-metrics.js';
import { quantize, readInput } from '../src/optimize/quantize.js';
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

const folder = mkdtempSync(join(tmpdir(), 'kiln-bench-modes-'));
try {
  const floatPath = ppOcrModelPath('rec');
  // The library's pipeline, both modes from one parse of the model.
  const float = readInput(floatPath);
  const dynamicPath = join(folder, 'rec.dynamic.onnx');
  const fp16Path = join(folder, 'rec.fp16.onnx');
  const dynamic = { report: await quantize(float, { mode: { kind: 'dynamic', perChannel: true, excludeNodes: [] }, output: dynamicPath }) };
  const half = { report: (await quantize(float, { mode: { kind: 'fp16', excludeNodes: [], excludeOpTypes: [] }, output: fp16Path })).fp16! };
  const { fusion } = dynamic.report;
  const size = (path: string) => statSync(path).size / 2 ** 20;
  console.log(`kiln bench:modes — ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} cores), node ${process.version}, onnxruntime-node ${runtimeVersion()}`);
  console.log(`PP-OCRv4 rec, FP32 ${size(floatPath).toFixed(2)} MiB`);
  console.log(
    `dynamic INT8: ${dynamic.report.quantizedNodes.length} MatMul/Gemm quantized (${dynamic.report.skippedNodes.length} left float: ${[...new Set(dynamic.report.skippedNodes.map((node) => node.reason))].join('; ') || 'none'}), ` +
      `${fusion.compute.fused}/${fusion.compute.asked} fused into ${JSON.stringify(fusion.integerKernels)}, lowest weight SQNR ${Math.min(...dynamic.report.weightSqnr.values()).toFixed(1)} dB, ${size(dynamicPath).toFixed(2)} MiB`,
  );
  console.log(
    `FP16: ${half.report.convertedInitializers} weights converted, ${half.report.clampedValues} values clamped, ${half.report.floatNodes} nodes kept float32, ${size(fp16Path).toFixed(2)} MiB\n`,
  );

  const names = ['FP32', 'dynamic INT8', 'FP16'];
  const paths = [floatPath, dynamicPath, fp16Path];
  const engines = await Promise.all(paths.map((path) => Engine.load(path, { intraOpThreads: 1 })));
  const pairs: TextPair[][] = names.map(() => []);
  const agree = names.map(() => 0);
  let first: Record<string, HostTensor> | undefined;
  for await (const sample of generateRecSamples({ split: 'evaluation', count: SAMPLES })) {
    first ??= sample.feeds;
    const texts: string[] = [];
    for (const [index, engine] of engines.entries()) {
      texts.push(readRecText(await engine.run(sample.feeds)));
      pairs[index]!.push({ reference: sample.label, hypothesis: texts[index]! });
      if (texts[index] === texts[0]) agree[index]!++;
    }
  }
  const scores = pairs.map((list) => scoreText(list));
  const latency = await compareLatency(engines, engines.map(() => first!), { iterations: ITERATIONS, rounds: 10 });
  console.log(
    table(
      ['model', 'MiB', 'size', 'char accuracy %', 'exact lines %', 'same text as FP32', 'p50 ms (batch 1)', 'speed-up'],
      names.map((name, index) => [
        name,
        size(paths[index]!).toFixed(2),
        `${(size(paths[index]!) / size(floatPath)).toFixed(3)}×`,
        (100 * scores[index]!.characterAccuracy).toFixed(2),
        (100 * scores[index]!.lineAccuracy).toFixed(2),
        `${agree[index]}/${SAMPLES}`,
        latency[index]!.p50Ms.toFixed(2),
        (latency[0]!.p50Ms / latency[index]!.p50Ms).toFixed(2),
      ]),
    ),
  );
  console.log(`\n${SAMPLES} rendered evaluation lines (seeded); latency: ${ITERATIONS} runs each, interleaved in 10 rounds, 1 intra-op thread, CPU provider`);
  for (const engine of engines) await engine.release();
} finally {
  rmSync(folder, { recursive: true, force: true });
}
