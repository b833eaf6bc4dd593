/**
 * kiln as a user gets it (issue 12, acceptance 1): `npm pack`, the tarball installed into a fresh
 * folder offline, then the public API from plain Node ESM and from a strict TypeScript project,
 * a server started from code with a built-in handler (worker thread) and a user handler (worker
 * process) answering, and `npx kiln --help`. Nothing here reaches the network: the consumer's
 * lockfile is this repository's, cut down to kiln's runtime dependencies, so `npm ci --offline`
 * takes every tarball from npm's cache (filled by the `npm ci` that installed this checkout), and
 * `--ignore-scripts` skips onnxruntime-node's install script (its CUDA download).
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeConsumerProject } from '../../scripts/consumer-project.js';
import { DataType, encodeModel, makeModel, makeNode, makeValueInfo } from '../../src/onnx/index.js';

const REPO = new URL('../../', import.meta.url).pathname;
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const root = mkdtempSync(join(tmpdir(), 'kiln-package-'));
const consumer = join(root, 'consumer');
after(() => rmSync(root, { recursive: true, force: true }));

function run(command: string, args: readonly string[], cwd: string, timeout = 120_000): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, npm_config_update_notifier: 'false' } });
  assert.equal(result.status, 0, `${command} ${args.join(' ')} failed (${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
  return result;
}

/** The newest modification time under a folder. */
function newest(dir: string): number {
  let latest = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const stat = statSync(path);
    latest = Math.max(latest, stat.isDirectory() ? newest(path) : stat.mtimeMs);
  }
  return latest;
}

/** `npm test` builds first; run alone, this test builds when dist/ is missing or older than src/. */
function ensureBuilt(): void {
  let built = 0;
  try {
    built = statSync(join(REPO, 'dist', 'index.js')).mtimeMs;
  } catch {
    built = 0;
  }
  if (built < newest(join(REPO, 'src'))) run(NPM, ['run', 'build'], REPO, 300_000);
}

interface PackedFile {
  readonly path: string;
  readonly size: number;
}
let packed: { filename: string; size: number; entryCount: number; files: PackedFile[] };

before(() => {
  ensureBuilt();
  // --ignore-scripts: `prepare` would build again.
  const pack = run(NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', root], REPO);
  packed = (JSON.parse(pack.stdout) as (typeof packed)[])[0]!;
  mkdirSync(consumer);
  writeConsumerProject(REPO, consumer, `../${packed.filename}`, 'consumer');
  const install = spawnSync(NPM, ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: consumer, encoding: 'utf8', timeout: 180_000 });
  assert.equal(
    install.status,
    0,
    `npm ci --offline of the packed kiln failed; its dependencies must be in npm's cache (run npm ci in this checkout first):\n${install.stderr}`,
  );
});

test('the tarball holds the compiled package and its docs, no sources, tests or models', () => {
  const paths = packed.files.map((file) => file.path);
  assert.ok(paths.includes('dist/index.js') && paths.includes('dist/index.d.ts') && paths.includes('dist/cli/bin.js'));
  assert.ok(paths.includes('dist/server/oip/inference.proto'), 'the gRPC service definition the server reads');
  const stray = paths.filter((path) => !/^(dist\/.*\.(js|d\.ts|js\.map|proto)|docs\/[^/]+\.md|README\.md|LICENSE|package\.json)$/.test(path) || /\.test\./.test(path));
  assert.deepEqual(stray, []);
  assert.ok(packed.size < 2 * 1024 * 1024, `tarball ${packed.size} bytes`);
});

test('plain Node ESM imports kiln, reads a model and runs it', () => {
  const model = makeModel({
    name: 'neg',
    nodes: [makeNode('Neg', ['x'], ['y'])],
    inputs: [makeValueInfo('x', DataType.FLOAT, [1, 3])],
    outputs: [makeValueInfo('y', DataType.FLOAT, [1, 3])],
  });
  writeFileSync(join(consumer, 'neg.onnx'), encodeModel(model));
  const script = [
    "import { readModel, Engine, hostTensor, KILN_VERSION } from 'kiln';",
    "const { model } = readModel('neg.onnx');",
    "const engine = await Engine.load('neg.onnx');",
    "const out = await engine.run({ x: hostTensor('float32', [1, 3], new Float32Array([1, -2, 3])) });",
    'await engine.release();',
    'console.log(JSON.stringify({ version: KILN_VERSION, op: model.graph.node[0].opType, y: Array.from(out.y.data) }));',
  ].join('\n');
  const result = run(process.execPath, ['--input-type=module', '-e', script], consumer);
  assert.deepEqual(JSON.parse(result.stdout), { version: '0.1.0', op: 'Neg', y: [-1, 2, -3] });
});

test('a server started from kiln/server answers with a built-in handler (thread) and a user handler (process)', () => {
  writeFileSync(
    join(consumer, 'handler.mjs'),
    "import { defineHandler } from 'kiln/handler';\nexport default { initialize() {}, handle(requests) { return requests.map((request) => ({ bytes: request.body.length })); } };\n",
  );
  const script = `
import { createModelArchive } from 'kiln/archive';
import { startServer } from 'kiln/server';
await createModelArchive({ modelName: 'neg', serializedFile: 'neg.onnx', handler: 'tensor', exportPath: 'store', force: true });
await createModelArchive({ modelName: 'echo', handler: 'handler.mjs', exportPath: 'store', force: true });
const server = await startServer({
  modelStore: 'store', models: ['all'], disableTokenAuth: true,
  properties: { inference_address: 'http://127.0.0.1:0', management_address: 'http://127.0.0.1:0', metrics_address: 'http://127.0.0.1:0', default_workers_per_model: '1' },
  logger: (await import('kiln')).silentLogger(),
});
try {
  const base = server.addresses().inference;
  const ping = await (await fetch(base + '/ping')).json();
  const infer = await (await fetch(base + '/v2/models/neg/infer', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, -2, 3] }] }) })).json();
  const echo = await (await fetch(base + '/predictions/echo', { method: 'POST', body: 'hello' })).json();
  console.log(JSON.stringify({ ping, y: infer.outputs[0].data, echo }));
} finally {
  await server.stop();
}`;
  mkdirSync(join(consumer, 'store'), { recursive: true });
  const result = run(process.execPath, ['--input-type=module', '-e', script], consumer);
  assert.deepEqual(JSON.parse(result.stdout.trim().split('\n').pop()!), { ping: { status: 'Healthy' }, y: [-1, 2, -3], echo: { bytes: 5 } });
});

test('a strict TypeScript project compiles against kiln, kiln/archive, kiln/server and kiln/handler', () => {
  writeFileSync(
    join(consumer, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
        typeRoots: [join(REPO, 'node_modules', '@types')],
      },
      files: ['consumer.ts'],
    }),
  );
  writeFileSync(
    join(consumer, 'consumer.ts'),
    [
      "import { Engine, KilnError, quantizeModel, readModel, type QuantizeOptions } from 'kiln';",
      "import { createModelArchive, openArchive, type ModelArchiveOptions } from 'kiln/archive';",
      "import { startServer, type KilnServer, type StartServerOptions } from 'kiln/server';",
      "import { defineHandler, PredictionError, type RequestInput } from 'kiln/handler';",
      '',
      "const quantize: QuantizeOptions = { scheme: 'U8S8' };",
      "const archive: ModelArchiveOptions = { modelName: 'neg', handler: 'tensor', exportPath: 'store' };",
      "const serve: StartServerOptions = { modelStore: 'store', models: ['all'], properties: { inference_address: 'http://127.0.0.1:0' } };",
      'export async function main(): Promise<void> {',
      "  const { model } = readModel('neg.onnx');",
      "  const engine: Engine = await Engine.load('neg.onnx');",
      '  await engine.release();',
      '  void quantizeModel;',
      '  await createModelArchive(archive);',
      "  const opened = await openArchive('store/neg.mar');",
      '  await opened.remove();',
      '  const server: KilnServer = await startServer(serve);',
      '  await server.stop();',
      '  void model;',
      '  void quantize;',
      '}',
      'export const handler = defineHandler<readonly RequestInput[], number>({',
      '  initialize() {},',
      '  preprocess: (requests) => requests,',
      '  inference: (batch) => batch.length,',
      "  postprocess: (count) => { if (count < 0) throw new PredictionError('no', 400); return [{ count }]; },",
      '});',
      "export const error = new KilnError('KILN_CLI_USAGE', 'x');",
      '',
    ].join('\n'),
  );
  const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', consumer], { cwd: consumer, encoding: 'utf8', timeout: 120_000 });
  assert.equal(result.status, 0, `tsc failed:\n${result.stdout}${result.stderr}`);
});

test('npx kiln --help runs the installed command', () => {
  const result = run(NPM, ['exec', '--offline', '--no', '--', 'kiln', '--help'], consumer);
  assert.match(result.stdout, /Usage: kiln/);
  assert.match(result.stdout, /serve/);
});
