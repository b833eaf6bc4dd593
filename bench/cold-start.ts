/**
 * Cold start of the model server (issue 14), from the compiled package (dist/cli/bin.js), on the
 * MobileNetV2 fixture (224×224, 1000 classes) archived with the built-in `image_classifier`:
 *
 *   a. `kiln serve` with no models → Healthy `/ping`
 *   b. `kiln serve --models mnv2=mnv2.mar` → Healthy, and → the first answered prediction
 *   c. on a running server, `POST /models?url=mnv2.mar&initial_workers=1&synchronous=true` → 200,
 *      and → the first answered prediction (a 224×224 JPEG), broken down from the server's debug
 *      log: archive extraction, thread start with module loading, handler module load, initialize
 *      (the onnxruntime session), the warm-up request if any, the rest of registration, the first
 *      request, and a second one; once for `mnv2.mar` and once for `mnv2-warm.mar`, the same model
 *      with `handler.warmup` set. The server has been up for a second when the request is sent.
 *
 * Each is timed from the spawn (a, b) or the register request (c) with the client's clock; the
 * median of `--runs` runs is printed with the min and max, and the machine's load. Run
 * `npm run build` first. Several builds or settings are compared in alternating rounds with
 * `--bin label=path/to/cli/bin.js[,config_key=value…]`; the setting `archive=float` serves that
 * build archives written with `foldPreprocess: false` (the model as exported, folded at load)
 * instead of `kiln archive`'s default (the preprocessing folded in at archive time).
 *
 *   npm run build && npm run bench:cold-start [-- --runs 5]
 *   npm run bench:cold-start -- --bin spare=dist/cli/bin.js --bin no-spare=dist/cli/bin.js,spare_handler_thread=false
 *   npm run bench:cold-start -- --bin folded=dist/cli/bin.js --bin float=dist/cli/bin.js,archive=float
 */
import { execSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { table } from '../src/cli/format.js';
import { createModelArchive } from '../src/handlers/model-archive.js';
import { writeModel } from '../src/onnx/index.js';
import { buildMobileNetV2 } from '../test/fixtures/mobilenet-v2.js';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, env: { type: 'string', multiple: true, default: [] }, bin: { type: 'string', multiple: true, default: [] } },
});
const RUNS = Number(values.runs);
/** The builds compared (`--bin label=path/to/cli/bin.js`, alternating rounds). @defaultValue this checkout's dist */
const BINS = (values.bin.length ? values.bin : [`dist=${new URL('../dist/cli/bin.js', import.meta.url).pathname}`]).map((pair) => {
  // `label=path[,key=value…]`: config.properties keys for that build's servers.
  const [label, rest] = pair.split(/=(.*)/s) as [string, string];
  const [path, ...settings] = rest.split(',') as [string, ...string[]];
  if (!existsSync(path)) throw new Error(`${path} is missing: run npm run build first`);
  const archive = settings.includes('archive=float') ? 'float' : 'folded';
  return { label, path, archive, properties: settings.filter((setting) => !setting.startsWith('archive=')) } as const;
});
/** A running server is one that has been up a while: what it does right after its start is (a) and (b)'s business. */
const SETTLE_MS = 1000;
/** Extra environment for every server (`--env KEY=VALUE`), to compare settings. */
const EXTRA_ENV = Object.fromEntries(values.env.map((pair) => pair.split(/=(.*)/s).slice(0, 2) as [string, string]));

const now = () => performance.timeOrigin + performance.now();

function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

type Bin = (typeof BINS)[number];

interface Running {
  readonly child: ChildProcess;
  readonly inference: string;
  readonly management: string;
  /** The server's JSON log lines (standard error). */
  readonly log: Record<string, unknown>[];
  readonly dir: string;
}

/** Spawns `kiln serve --foreground` on free ports with `store` as its model store; resolves once it prints its addresses. */
async function serve(bin: Bin, store: string, args: readonly string[], logLevel: string): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-cold-'));
  const config = join(dir, 'config.properties');
  writeFileSync(
    config,
    [
      'inference_address=http://127.0.0.1:0',
      'management_address=http://127.0.0.1:0',
      'metrics_address=http://127.0.0.1:0',
      'disable_token_authorization=true',
      'enable_model_api=true',
      ...bin.properties,
    ].join('\n'),
  );
  const child = spawn(process.execPath, [bin.path, 'serve', '--foreground', '--ncs', '--model-store', store, '--ts-config', config, ...args], {
    cwd: dir,
    env: { ...process.env, LOG_LOCATION: join(dir, 'logs'), KILN_LOG_LEVEL: logLevel, ...EXTRA_ENV },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: Record<string, unknown>[] = [];
  let pending = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      try {
        log.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        process.stderr.write(`${line}\n`);
      }
    }
  });
  let stdout = '';
  const addresses = await new Promise<{ inference: string; management: string }>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      const inference = /^inference\s+(\S+)/m.exec(stdout);
      const management = /^management\s+(\S+)/m.exec(stdout);
      if (inference && management) resolve({ inference: inference[1]!, management: management[1]! });
    });
    child.once('exit', (code) => reject(new Error(`kiln serve exited (${code}) before listening: ${stdout}`)));
  });
  return { child, ...addresses, log, dir };
}

async function stop(server: Running): Promise<void> {
  server.child.kill('SIGTERM');
  if (server.child.exitCode === null) await new Promise((done) => server.child.once('exit', done));
  rmSync(server.dir, { recursive: true, force: true });
}

async function healthy(server: Running): Promise<void> {
  for (;;) {
    const answer = await fetch(`${server.inference}/ping`).then((response) => response.json() as Promise<{ status?: string }>, () => undefined);
    if (answer?.status === 'Healthy') return;
    await new Promise((done) => setTimeout(done, 2));
  }
}

async function predict(server: Running, jpeg: Uint8Array, model = 'mnv2'): Promise<void> {
  const response = await fetch(`${server.inference}/predictions/${model}`, { method: 'POST', body: jpeg, headers: { 'content-type': 'image/jpeg' } });
  const body = await response.text();
  if (response.status !== 200) throw new Error(`prediction: ${response.status} ${body}`);
}

/** a: no models → Healthy. */
async function bareStart(bin: Bin, store: string): Promise<number> {
  const start = now();
  const server = await serve(bin, store, [], 'warn');
  try {
    await healthy(server);
    return now() - start;
  } finally {
    await stop(server);
  }
}

/** b: the archive loaded at start → Healthy, → first prediction. */
async function startWithModel(bin: Bin, store: string, jpeg: Uint8Array): Promise<{ healthy: number; predicted: number }> {
  const start = now();
  const server = await serve(bin, store, ['--models', 'mnv2=mnv2.mar'], 'warn');
  try {
    await healthy(server);
    const isHealthy = now() - start;
    await predict(server, jpeg);
    return { healthy: isHealthy, predicted: now() - start };
  } finally {
    await stop(server);
  }
}

/** c: register on a running server → 200 → first prediction, with the server's own phase times. */
async function registerToPrediction(bin: Bin, store: string, jpeg: Uint8Array, model: string): Promise<Record<string, number>> {
  const server = await serve(bin, store, [], 'debug');
  try {
    await healthy(server);
    await new Promise((done) => setTimeout(done, SETTLE_MS));
    const start = now();
    const response = await fetch(`${server.management}/models?url=${model}.mar&initial_workers=1&synchronous=true`, { method: 'POST' });
    if (response.status !== 200) throw new Error(`register: ${response.status} ${await response.text()}`);
    const registered = now();
    await predict(server, jpeg, model);
    const predicted = now();
    await predict(server, jpeg, model);
    const second = now() - predicted;
    const find = (msg: string) => server.log.find((line) => line['msg'] === msg);
    const opened = find('archive opened');
    const initialized = find('handler initialized');
    const totals: Record<string, number> = {
      'register → 200': registered - start,
      '200 → first prediction': predicted - registered,
      'register → first prediction': predicted - start,
      'second prediction (steady state)': second,
    };
    // A build without the phase log lines (an older kiln) reports the totals only.
    if (!opened || !initialized) return totals;
    const openedAt = Date.parse(String(opened['time']));
    const initializedAt = Date.parse(String(initialized['time']));
    const handlerEntered = initializedAt - Number(initialized['warmUpMs'] ?? 0) - Number(initialized['initializeMs']) - Number(initialized['loadMs']);
    return {
      'request → registry called (HTTP, route)': openedAt - Number(opened['openMs']) - start,
      'registry called → archive opened (extract, manifest)': Number(opened['openMs']),
      'archive opened → handler start (thread start, modules)': handlerEntered - openedAt,
      'handler module load': Number(initialized['loadMs']),
      'initialize (onnxruntime session, labels)': Number(initialized['initializeMs']),
      ...(initialized['warmUpMs'] === undefined ? {} : { 'warm-up request': Number(initialized['warmUpMs']) }),
      'initialized (and warmed up) → register 200': registered - initializedAt,
      ...totals,
    };
  } finally {
    await stop(server);
  }
}

const root = mkdtempSync(join(tmpdir(), 'kiln-bench-cold-store-'));
try {
  const modelPath = join(root, 'mnv2.onnx');
  writeModel(buildMobileNetV2(), modelPath);
  const jpeg = await sharp(Buffer.from(Array.from({ length: 224 * 224 * 3 }, (_, index) => (index * 37) % 251)), { raw: { width: 224, height: 224, channels: 3 } })
    .jpeg()
    .toBuffer();
  // The same model with a warm-up request (model-config.yaml handler.warmup: a 224×224 grey JPEG).
  const sample = join(root, 'warmup.jpg');
  writeFileSync(sample, await sharp({ create: { width: 224, height: 224, channels: 3, background: { r: 128, g: 128, b: 128 } } }).jpeg().toBuffer());
  writeFileSync(join(root, 'model-config.yaml'), 'handler:\n  warmup: warmup.jpg\n');
  // One store per archive kind: kiln archive's default (folded) and, for `archive=float`, as exported.
  const stores = { folded: join(root, 'store-folded'), float: join(root, 'store-float') };
  for (const [kind, store] of Object.entries(stores)) {
    mkdirSync(store);
    const foldPreprocess = kind === 'folded';
    await createModelArchive({ modelName: 'mnv2', version: '1.0', serializedFile: modelPath, handler: 'image_classifier', exportPath: store, format: 'default', force: true, foldPreprocess });
    await createModelArchive({
      modelName: 'mnv2-warm',
      version: '1.0',
      serializedFile: modelPath,
      handler: 'image_classifier',
      extraFiles: [sample],
      configFile: join(root, 'model-config.yaml'),
      exportPath: store,
      format: 'default',
      force: true,
      foldPreprocess,
    });
  }

  const results = BINS.map(() => ({
    bare: [] as number[],
    withModel: [] as { healthy: number; predicted: number }[],
    registered: [] as Record<string, number>[],
    warm: [] as Record<string, number>[],
  }));
  // Interleaved, so a change in the machine's load touches every build and measurement alike.
  for (let run = 0; run < RUNS; run++) {
    for (const [index, bin] of BINS.entries()) {
      const result = results[index]!;
      const store = stores[bin.archive];
      result.bare.push(await bareStart(bin, store));
      result.withModel.push(await startWithModel(bin, store, jpeg));
      result.registered.push(await registerToPrediction(bin, store, jpeg, 'mnv2'));
      result.warm.push(await registerToPrediction(bin, store, jpeg, 'mnv2-warm'));
    }
  }
  const format = (samples: readonly number[]) => (samples.length ? [median(samples), Math.min(...samples), Math.max(...samples)].map((ms) => `${ms.toFixed(0)} ms`) : ['-', '-', '-']);
  console.log(`MobileNetV2 224×224 (${(statSync(modelPath).size / 2 ** 20).toFixed(1)} MiB), ${RUNS} runs per build, alternating; node ${process.version}`);
  if (Object.keys(EXTRA_ENV).length) console.log(`server environment: ${values.env.join(' ')}`);
  for (const [index, { label, properties }] of BINS.entries()) {
    const { bare, withModel, registered, warm } = results[index]!;
    const phases = (runs: readonly Record<string, number>[], tag: string) =>
      Object.keys(runs[0]!).map((phase) => [`${tag} ${phase}`, ...format(runs.flatMap((run) => (run[phase] === undefined ? [] : [run[phase]!])))]);
    const rows = [
      ['a. kiln serve → Healthy /ping (no models)', ...format(bare)],
      ['b. kiln serve --models mnv2=mnv2.mar → Healthy', ...format(withModel.map((run) => run.healthy))],
      ['b. kiln serve --models mnv2=mnv2.mar → first prediction', ...format(withModel.map((run) => run.predicted))],
      ...phases(registered, 'c.'),
      ...phases(warm, 'c. warm-up:'),
    ];
    const settings = [...properties, ...(BINS[index]!.archive === 'float' ? ['archives not folded'] : [])];
    console.log(`\n${label}${settings.length ? ` (${settings.join(', ')})` : ''}`);
    console.log(table(['what', 'median', 'min', 'max'], rows));
  }
  console.log(`load: ${execSync('uptime').toString().trim()}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
