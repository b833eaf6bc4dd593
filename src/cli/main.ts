import { Command, CommanderError, Option } from 'commander';
import { KilnError } from '../core/errors.js';
import { KILN_VERSION } from '../core/version.js';
import type { GraphOptimizationLevel } from '../runtime/engine.js';
import { BENCH_DEFAULTS, BENCH_URL_DEFAULTS, BENCH_URL_FLAGS } from './commands/bench-defaults.js';
import type { BenchConfig } from './commands/bench.js';
import { processIO, type CliIO } from './io.js';
import { collectDim, collectHeader, collectInput, collectShape, parseIntList, parsePositiveInt } from './options.js';
import { EXIT, reportError } from './report-error.js';

/**
 * The module behind each command, imported only when that command runs: `kiln --help` and
 * every other command load none of the rest (onnxruntime, sharp, the server), so the CLI starts
 * in tens of milliseconds. A new command adds its row here and its `program.command` below.
 */
const load = {
  inspect: () => import('./commands/inspect.js'),
  bench: () => import('./commands/bench.js'),
  benchCompare: () => import('./commands/bench-compare.js'),
  benchUrl: () => import('./commands/bench-url.js'),
  benchUrlFlags: () => import('./commands/bench-url-flags.js'),
  archive: () => import('./commands/archive.js'),
  archiveCompat: () => import('./commands/archive-compat.js'),
  archiveInspect: () => import('./commands/archive-inspect.js'),
  archiveWorkflow: () => import('./commands/archive-workflow.js'),
  quantize: () => import('./commands/quantize-flags.js'),
  predict: () => import('./commands/predict.js'),
  serve: () => import('./commands/serve.js'),
  demo: () => import('./commands/demo.js'),
  compare: () => import('./commands/compare.js'),
  optimize: () => import('./commands/optimize.js'),
} as const;

/** `torch-model-archiver --runtime`'s one accepted value (the archive manifest's `KILN_RUNTIME`, not imported: it would load zod). */
const ARCHIVE_RUNTIME = 'typescript';

export { EXIT } from './report-error.js';

function buildProgram(io: CliIO, argv: readonly string[]): Command {
  const program = new Command('kiln')
    .description('Take a trained ONNX model to production from TypeScript')
    .version(KILN_VERSION)
    .showSuggestionAfterError()
    // Root options (--version) only before the command: `kiln archive --version 2.0` is the model's.
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.out(text.trimEnd()), writeErr: () => undefined });

  program
    .command('inspect')
    .description('summarize an ONNX model: signature, opsets, ops, parameters, bytes by type')
    .argument('<model>', 'path to an .onnx file')
    .option('--json', 'print a JSON document instead of text')
    .option('--no-runtime', 'do not load the model in onnxruntime')
    .action(async (model: string, flags: { json?: boolean; runtime: boolean }) => {
      const { runInspect } = await load.inspect();
      await runInspect(model, { json: flags.json ?? false, runtime: flags.runtime }, io);
    });

  program
    .command('bench')
    .description('measure latency (p50/p90/p99) and throughput with onnxruntime, several models side by side; or, with --url, load a running server at a sweep of concurrency levels')
    .argument('[models...]', 'path to an .onnx file; more than one: measured interleaved, with speed-ups against the first')
    .option('-b, --batch <sizes>', `batch sizes, comma-separated (default: ${BENCH_DEFAULTS.batches.join(',')}; also sets axis 0 of --shape)`)
    .option('-t, --threads <counts>', 'intra-op thread counts, comma-separated (0 = onnxruntime default)', BENCH_DEFAULTS.threads.join(','))
    .option('-n, --iterations <n>', 'timed runs per configuration', String(BENCH_DEFAULTS.iterations))
    .option('-w, --warmup <n>', `untimed runs first (default: ${BENCH_DEFAULTS.warmup}); with --url, seconds of load before each level (default: ${BENCH_URL_DEFAULTS.warmupS})`)
    .option('--dim <name=n>', 'value of a symbolic dimension (repeatable; * for any)', collectDim, {})
    .option('--shape <input=d0,d1,...>', 'full shape of an input (repeatable; --batch sets axis 0)', collectShape, {})
    .option('--seed <n>', 'seed of the generated inputs', String(BENCH_DEFAULTS.seed))
    .addOption(
      new Option('--optimization <level>', 'onnxruntime graph optimization level')
        .choices(['disabled', 'basic', 'extended', 'all'])
        .default(BENCH_DEFAULTS.optimization),
    )
    .option('--url <url>', 'load a running server instead: its address with --model, or a route …/predictions/MODEL[/VERSION] or …/v2/models/MODEL[/versions/V][/infer]')
    .addOption(new Option('--protocol <protocol>', 'with --url: TorchServe routes or KServe OIP v2 (default: from the URL path, else torchserve)').choices(['torchserve', 'oip']))
    .option('--model <name>', 'with --url: the model to load (when the URL does not name it)')
    .option('--model-version <version>', 'with --url: a version of the model (default: the server\'s default version)')
    .option('--input <path>', 'with --url: a request file or a folder of them (repeatable; requests cycle through them). OIP without --input: inputs generated from the model\'s metadata', collectInput)
    .option('--content-type <type>', 'with --url: content type of every request file (default: from its extension)')
    .option('-H, --header <line>', 'with --url: a header sent with every request, e.g. \'Authorization: Bearer KEY\' (repeatable)', collectHeader)
    .option('--binary', 'with --url and generated OIP inputs: send tensors with the binary tensor extension and ask for binary outputs')
    .option('-c, --concurrency <levels>', `with --url: concurrent clients per level, comma-separated (default: ${BENCH_URL_DEFAULTS.concurrency.join(',')})`)
    .option('-d, --duration <s>', `with --url: seconds measured per level (default: ${BENCH_URL_DEFAULTS.durationS})`)
    .option('--timeout <s>', `with --url: seconds before a request counts as timed out (default: ${BENCH_URL_DEFAULTS.timeoutS})`)
    .option('--json', 'print a JSON document instead of text')
    .action(async (models: string[], flags: Record<string, unknown>, command: Command) => {
      const given = (flag: string) => command.getOptionValueSource(flag) === 'cli';
      if (flags['url'] !== undefined) {
        const { benchUrlConfig } = await load.benchUrlFlags();
        const config = benchUrlConfig(models, flags, given);
        await (await load.benchUrl()).runBenchUrl(config, io);
        return;
      }
      const urlOnly = BENCH_URL_FLAGS.find(given);
      if (urlOnly) throw new KilnError('KILN_CLI_USAGE', `--${urlOnly.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)} applies to --url (a running server)`);
      if (models.length === 0) throw new KilnError('KILN_CLI_USAGE', 'kiln bench needs a model file (or --url URL for a running server)');
      const config: BenchConfig = {
          batches: flags['batch'] === undefined ? BENCH_DEFAULTS.batches : parseIntList('--batch', flags['batch'] as string),
          batchExplicit: flags['batch'] !== undefined,
          threads: parseIntList('--threads', flags['threads'] as string, { allowZero: true }),
          iterations: parsePositiveInt('--iterations', flags['iterations'] as string),
          warmup: parsePositiveInt('--warmup', (flags['warmup'] as string | undefined) ?? String(BENCH_DEFAULTS.warmup), { allowZero: true }),
          dims: flags['dim'] as Record<string, number>,
          shapes: flags['shape'] as Record<string, number[]>,
          seed: parsePositiveInt('--seed', flags['seed'] as string, { allowZero: true }),
          optimization: flags['optimization'] as GraphOptimizationLevel,
          json: Boolean(flags['json']),
      };
      if (models.length > 1) await (await load.benchCompare()).runBenchComparison(models, config, io);
      else await (await load.bench()).runBench(models[0]!, config, io);
    });

  program
    .command('archive')
    .description('package an ONNX model and a handler into a model archive (.mar), as torch-model-archiver does')
    .option('--model-name <name>', 'model name (letters, digits, _ - .)')
    .option('-v, --version <version>', 'model version', '1.0')
    .option('--serialized-file <path>', 'the ONNX model (its external data files go in too)')
    .option('--handler <handler>', 'built-in name (image_classifier, ocr, tensor) or a .ts/.js file[:function]')
    .option('--extra-files <paths>', 'comma-separated files or folders to add to the archive root')
    .option('-c, --config-file <path>', 'model-config.yaml (workers, batching, handler settings)')
    .option('--export-path <dir>', 'where to write the archive', '.')
    .addOption(new Option('--archive-format <format>', 'archive format').choices(['default', 'zip-store', 'tgz', 'no-archive']).default('default'))
    .option('-f, --force', 'overwrite an existing archive')
    .option('--fold-preprocess', 'image_classifier: fold handler.image\'s preprocessing into the model (input uint8 [N, H, W, C] pixels), or fail; the default folds when the description allows it')
    .option('--no-fold-preprocess', 'image_classifier: archive the model as it is (float32 input), not folded')
    .option('--runtime <runtime>', `torch-model-archiver's flag: only ${ARCHIVE_RUNTIME} (a Python runtime is refused)`)
    .option('-r, --requirements-file <path>', 'torch-model-archiver\'s flag: refused (kiln installs no Python packages; npm imports are bundled)')
    .option('--model-file <path>', 'torch-model-archiver\'s flag: with an ONNX --serialized-file, ignored with a warning')
    .option('--inspect <archive>', 'validate an archive (.mar, or a workflow .war) and list its manifest and files instead')
    .option('--json', 'with --inspect: print a JSON document')
    .action(async (flags: Record<string, string | boolean | undefined>) => {
      if (typeof flags['inspect'] === 'string') {
        const { runArchiveInspect } = await load.archiveInspect();
        await runArchiveInspect(flags['inspect'], Boolean(flags['json']), io);
        return;
      }
      const { checkArchiverCompat } = await load.archiveCompat();
      checkArchiverCompat(
        {
          ...(typeof flags['runtime'] === 'string' ? { runtime: flags['runtime'] } : {}),
          ...(typeof flags['requirementsFile'] === 'string' ? { requirementsFile: flags['requirementsFile'] } : {}),
          ...(typeof flags['modelFile'] === 'string' ? { modelFile: flags['modelFile'] } : {}),
          ...(typeof flags['serializedFile'] === 'string' ? { serializedFile: flags['serializedFile'] } : {}),
        },
        io,
      );
      for (const required of ['modelName', 'handler'] as const) {
        if (!flags[required]) throw new KilnError('KILN_CLI_USAGE', `kiln archive needs --${required === 'modelName' ? 'model-name' : 'handler'}`);
      }
      const { runArchive } = await load.archive();
      await runArchive(
        {
          modelName: flags['modelName'] as string,
          version: flags['version'] as string,
          handler: flags['handler'] as string,
          exportPath: flags['exportPath'] as string,
          archiveFormat: flags['archiveFormat'] as 'default',
          force: Boolean(flags['force']),
          ...(typeof flags['foldPreprocess'] === 'boolean' ? { foldPreprocess: flags['foldPreprocess'] } : {}),
          ...(flags['serializedFile'] ? { serializedFile: flags['serializedFile'] as string } : {}),
          ...(flags['extraFiles'] ? { extraFiles: flags['extraFiles'] as string } : {}),
          ...(flags['configFile'] ? { configFile: flags['configFile'] as string } : {}),
        },
        io,
      );
    });

  program
    .command('archive-workflow')
    .description('package a workflow (a DAG of models and handler functions) into a workflow archive (.war), as torch-workflow-archiver does')
    .option('--workflow-name <name>', 'workflow name (letters, digits, _ - .)')
    .option('--spec-file <path>', 'the workflow spec (YAML: models and dag)')
    .option('--handler <path>', 'a .ts/.js file whose exported functions can be DAG nodes')
    .option('--extra-files <paths>', 'comma-separated files or folders to add to the archive root')
    .option('--export-path <dir>', 'where to write the archive', '.')
    .option('-f, --force', 'overwrite an existing archive')
    .action(async (flags: Record<string, string | boolean | undefined>) => {
      for (const [key, flag] of [['workflowName', 'workflow-name'], ['specFile', 'spec-file'], ['handler', 'handler']] as const) {
        if (!flags[key]) throw new KilnError('KILN_CLI_USAGE', `kiln archive-workflow needs --${flag}`);
      }
      const { runArchiveWorkflow } = await load.archiveWorkflow();
      await runArchiveWorkflow(
        {
          workflowName: flags['workflowName'] as string,
          specFile: flags['specFile'] as string,
          handler: flags['handler'] as string,
          exportPath: flags['exportPath'] as string,
          force: Boolean(flags['force']),
          ...(flags['extraFiles'] ? { extraFiles: flags['extraFiles'] as string } : {}),
        },
        io,
      );
    });

  program
    .command('quantize')
    .description('INT8 quantization, static (QDQ, calibrated) or dynamic, with a check that onnxruntime fuses it to integer kernels; or FP16 conversion')
    .argument('<model>', 'the float ONNX model, or a model archive (.mar, .tar.gz or folder): its model is calibrated through its own handler.image and written into a new .mar')
    .requiredOption('-o, --output <path>', 'where to write the quantized model (a .mar for an archive)')
    .addOption(
      new Option('--mode <mode>', 'static: calibrated QDQ; dynamic: MatMul/Gemm weights int8, activations quantized at run time; fp16: float16 weights and activations (no --calib needed for dynamic or fp16)')
        .choices(['static', 'dynamic', 'fp16'])
        .default('static'),
    )
    .option('--calib <data>', 'calibration data: a folder of images, a folder of .npy files (or one subfolder per input), or a .js/.ts module')
    .option('--preprocess <spec>', 'image preprocessing: a preset (imagenet, ppocr-det, ppocr-rec, ppocr-cls) or e.g. resize=shorter-side:256:224,mean=0.485,0.456,0.406,std=0.229,0.224,0.225 (docs/quantization.md)')
    .option('--input <name>', 'model input the images or .npy files feed (default: the only input)')
    .option('--limit <n>', 'use at most this many calibration samples')
    .addOption(new Option('--method <method>', 'calibration method').choices(['mse', 'minmax', 'percentile', 'entropy']).default('mse'))
    .option('--percentile <p>', 'percentile method: the percentile kept (default 99.999)')
    .option('--bins <n>', 'histogram bins of the histogram methods (default 2048)')
    .addOption(new Option('--scheme <scheme>', 'U8S8 (x86 default) or S8S8 (ARM; x86 with session.qdqisint8allowed)').choices(['U8S8', 'S8S8']).default('U8S8'))
    .option('--per-tensor', 'one weight scale per tensor instead of per output channel')
    .option('--reduce-range', '7-bit weights, for CPUs without VNNI')
    .option('--exclude-nodes <names>', 'comma-separated node names to keep in float')
    .option('--exclude-ops <ops>', 'comma-separated op types to keep in float (e.g. Softmax); with --mode fp16, added to its block list')
    .option('--op-types <ops>', 'quantize only these op types (comma-separated)')
    .option('--ranges <file>', 'replay saved activation ranges instead of calibrating')
    .option('--save-ranges <file>', 'write the activation ranges as JSON')
    .option('--allow-unfused', 'warn instead of failing when a quantized node stays a float op')
    .option('--sqnr-samples <n>', 'calibration samples compared FP32 vs INT8 for the SQNR line', '32')
    .option('--equalize', 'cross-layer equalization of Conv pairs before calibration (FP32 outputs unchanged)')
    .option('--bias-correction', 'correct quantized Conv/Gemm biases by their mean output error on the calibration data')
    .option('--max-drop <pp>', 'accuracy budget: top-1 on --eval (an ImageFolder tree) may drop at most this many percentage points; the most sensitive layers stay float')
    .option('--min-sqnr <dB>', 'accuracy budget: the output SQNR against FP32 on --eval stays at or above this floor')
    .option('--eval <dir>', 'held-out data the budget is measured on (never the calibration data)')
    .option('--labels <index_to_name.json>', 'class names of the --eval ImageFolder tree, for --max-drop')
    .option('-f, --force', 'overwrite an existing output file')
    .option('--json', 'print a JSON document instead of text')
    .option('--report <file.html>', 'also write an HTML report (and its JSON beside it)')
    .action(async (model: string, flags: Record<string, unknown>) => {
      const { quantizeCommandConfig, runQuantize } = await load.quantize();
      const config = quantizeCommandConfig(flags);
      await runQuantize(model, config, io);
    });

  const evaluationOptions = (command: Command) =>
    command
      .option('--preprocess <spec>', 'image preprocessing of the data, as kiln quantize takes it')
      .option('--input <name>', 'model input the images or .npy files feed (default: the only input)')
      .option('--labels <index_to_name.json>', 'class names of an ImageFolder tree (DIR/<label>/*.jpg) for top-1/top-5 accuracy')
      .option('--samples <n>', 'samples evaluated (default 256)')
      .option('--iterations <n>', 'timed runs per model and batch size (default 30)')
      .option('--report <file.html>', 'write a self-contained HTML report (and its JSON beside it)')
      .option('--json', 'print the report\'s JSON document instead of text');
  evaluationOptions(
    program
      .command('compare')
      .description('compare models side by side: size, latency at batch 1 and 8 (interleaved), fidelity to the first or accuracy on labelled data')
      .argument('<models...>', 'two or more .onnx files; the first is the reference')
      .option('--data <dir>', 'samples: a folder of images or .npy files, or an ImageFolder tree of labelled images'),
  ).action(async (models: string[], flags: Record<string, unknown>) => {
    const { evaluationFlags, runCompare } = await load.compare();
    await runCompare(models, evaluationFlags(flags), io);
  });
  evaluationOptions(
    program
      .command('optimize')
      .description('run the ladder FP32, FP16, dynamic INT8, static MinMax, static MSE on one model and report the speed/accuracy trade-off')
      .argument('<model>', 'the float ONNX model')
      .requiredOption('--data <dir>', 'samples to evaluate on (and calibrate on, unless --calib)')
      .option('--calib <data>', 'calibration data of the static rungs (default: --data)')
      .option('--limit <n>', 'use at most this many calibration samples')
      .option('--out-dir <dir>', 'where the rung models are written', 'kiln-optimize')
      .option('--max-drop <pp>', 'add a "static + budget" rung: top-1 on the labelled --data drops at most this many points')
      .option('--min-sqnr <dB>', 'add a "static + budget" rung: output SQNR on --data at least this floor')
      .option('-f, --force', 'overwrite rung models from an earlier run'),
  ).action(async (model: string, flags: Record<string, unknown>) => {
    const [{ evaluationFlags }, { runOptimize }] = await Promise.all([load.compare(), load.optimize()]);
    const evaluation = evaluationFlags(flags);
    const limit = flags['limit'] === undefined ? undefined : parsePositiveInt('--limit', String(flags['limit']));
    const calibration = { path: typeof flags['calib'] === 'string' ? flags['calib'] : evaluation.dataPath!, options: { ...evaluation.source, ...(limit !== undefined ? { limit } : {}) } };
    const budget = optimizeBudget(flags);
    await runOptimize(model, { ...evaluation, calibration, outDir: String(flags['outDir']), force: Boolean(flags['force']), ...(budget ? { budget } : {}) }, io);
  });
  program
    .command('predict')
    .description('run an archive\'s handler in this process on input files (each sent as a raw body)')
    .argument('<archive>', '.mar, .tar.gz or archive folder')
    .argument('<inputs...>', 'input files, one request each, run as one batch')
    .action(async (archive: string, inputs: string[]) => {
      const { runPredict } = await load.predict();
      await runPredict(archive, inputs, io);
    });

  program
    .command('serve')
    .description('start the model server: TorchServe REST APIs on :8080 (inference), :8081 (management), :8082 (metrics)')
    .option('--model-store <dir>', 'folder of model archives (model_store)')
    .option('--models <models...>', 'archives to load at start: all, or [name=]file.mar ...')
    .option('--ts-config <file>', 'config.properties to read')
    .option('--foreground', 'stay in the foreground (logs to stderr)')
    .option('--ncs', 'no config snapshots: do not restore the last one or write new ones')
    .option('--disable-token-auth', 'do not require tokens (only for loopback listeners)')
    .option('--enable-model-api', 'allow registering and unregistering models over the management API')
    .action(async (flags: Record<string, unknown>) => {
      const serveFlags = {
        foreground: Boolean(flags['foreground']),
        ncs: Boolean(flags['ncs']),
        ...(flags['modelStore'] ? { modelStore: flags['modelStore'] as string } : {}),
        ...(flags['models'] ? { models: flags['models'] as string[] } : {}),
        ...(flags['tsConfig'] ? { tsConfig: flags['tsConfig'] as string } : {}),
        ...(flags['disableTokenAuth'] ? { disableTokenAuth: true } : {}),
        ...(flags['enableModelApi'] ? { enableModelApi: true } : {}),
      };
      const { runServeBackground, runServeForeground } = await load.serve();
      if (serveFlags.foreground) await runServeForeground(serveFlags, io);
      else await runServeBackground(argv.slice(argv.indexOf('serve') + 1), serveFlags, io);
    });

  program
    .command('stop')
    .description('stop a server started with kiln serve (drains requests, writes a snapshot)')
    .action(async () => {
      const { runStop } = await load.serve();
      await runStop(io);
    });

  program
    .command('demo')
    .description('walk through kiln on the bundled PP-OCR models: inspect, bench, archive, predict')
    .option('-n, --iterations <n>', 'timed runs per model', '20')
    .option('--out <dir>', 'where the demo writes its archives and sample images', '.kiln-demo')
    .action(async (flags: { iterations: string; out: string }) => {
      const { runDemo } = await load.demo();
      await runDemo({ iterations: parsePositiveInt('--iterations', flags.iterations), out: flags.out }, io);
    });

  return program;
}

/**
 * Runs the CLI and returns the exit code. Every failure becomes one line on stderr
 * (`kiln: <what> [KILN_CODE]`), never a stack trace; set `KILN_DEBUG=1` to see the cause's stack.
 * A bare `kiln` prints the help to stdout and exits 0, as `kiln --help` does.
 */
export async function runCli(argv: readonly string[], io: CliIO = processIO()): Promise<number> {
  const program = buildProgram(io, argv);
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT.ok;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError && error.exitCode === 0) return EXIT.ok; // --help, --version
    const command = program.commands.find((candidate) => candidate.name() === argv[0])?.name();
    const report = reportError(error, command, Boolean(process.env['KILN_DEBUG']));
    io.err(report.line);
    if (report.debug) io.err(report.debug);
    return report.exitCode;
  }
}

/** `kiln optimize --max-drop PP | --min-sqnr DB`, checked. */
function optimizeBudget(flags: Readonly<Record<string, unknown>>): { kind: 'max-drop' | 'min-sqnr'; value: number } | undefined {
  const maxDrop = flags['maxDrop'];
  const minSqnr = flags['minSqnr'];
  if (maxDrop !== undefined && minSqnr !== undefined) throw new KilnError('KILN_CLI_USAGE', 'give one budget: --max-drop or --min-sqnr, not both');
  const [kind, raw] = maxDrop !== undefined ? (['max-drop', maxDrop] as const) : minSqnr !== undefined ? (['min-sqnr', minSqnr] as const) : [undefined, undefined];
  if (!kind) return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || (kind === 'max-drop' && value < 0)) throw new KilnError('KILN_CLI_USAGE', `--${kind} must be a number${kind === 'max-drop' ? ' of percentage points, 0 or more' : ' of dB'}, not '${String(raw)}'`);
  return { kind, value };
}
