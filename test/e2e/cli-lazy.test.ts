/**
 * `kiln --help` loads no command (issue 12): commands are imported when they run, so the help
 * answers without loading onnxruntime, sharp, the server or its protocols. Checked on the
 * loaded CommonJS modules of a process that ran the help (the heavy packages are CommonJS, so
 * each one that loads leaves its files in `require.cache`). esbuild is not on the list: tsx,
 * which runs the sources here, loads it itself.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeUnaryTensorArchive } from '../fixtures/archives.js';

const REPO = new URL('../../', import.meta.url).pathname;
const HEAVY = /node_modules\/(onnxruntime-node|onnxruntime-common|sharp|@grpc|prom-client|busboy|yauzl|tar-stream|autocannon)\//;

/** Runs `kiln <argv>` in a fresh process and returns the CommonJS files it loaded. */
function loadedBy(argv: readonly string[]): { code: number; out: string; loaded: string[] } {
  const script = [
    "import { createRequire } from 'node:module';",
    "const { runCli } = await import('./src/cli/main.ts');",
    'const lines = [];',
    `const code = await runCli(${JSON.stringify(argv)}, { out: (text) => lines.push(text), err: (text) => lines.push(text), interactive: false });`,
    "console.log(JSON.stringify({ code, out: lines.join('\\n'), loaded: Object.keys(createRequire(import.meta.url).cache) }));",
  ].join('\n');
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as { code: number; out: string; loaded: string[] };
}

test('kiln --help imports none of the commands and none of their heavy packages', () => {
  const { code, out, loaded } = loadedBy(['--help']);
  assert.equal(code, 0);
  assert.match(out, /quantize/);
  assert.deepEqual(loaded.filter((path) => HEAVY.test(path)), []);
});

test('a command loads its module when it runs: kiln inspect reaches onnxruntime', () => {
  const { loaded } = loadedBy(['inspect', 'no-such.onnx']);
  assert.ok(loaded.some((path) => /onnxruntime-node/.test(path)), 'the check sees a heavy package load');
});

test('kiln bench --url loads autocannon, and neither onnxruntime nor the server', () => {
  const { code, out, loaded } = loadedBy(['bench', '--url', 'http://127.0.0.1:9/predictions/m', '--input', 'package.json', '--duration', '0.1']);
  assert.equal(code, 1, out);
  assert.match(out, /KILN_CLI_BENCH_UNREACHABLE/);
  assert.ok(loaded.some((path) => /node_modules\/autocannon\//.test(path)));
  assert.deepEqual(loaded.filter((path) => /node_modules\/(onnxruntime-node|onnxruntime-common|sharp|prom-client|busboy)\//.test(path)), []);
});

test("the server's own thread loads neither onnxruntime nor sharp: a built-in handler's worker thread does", async () => {
  const store = mkdtempSync(join(tmpdir(), 'kiln-lazy-serve-'));
  try {
    await writeUnaryTensorArchive(store, 'neg', 'Neg');
    const script = [
      "import { createRequire } from 'node:module';",
      "const { startServer } = await import('./src/server/start.ts');",
      `const server = await startServer({ modelStore: ${JSON.stringify(store)}, models: ['neg.mar'], disableTokenAuth: true,`,
      "  properties: { inference_address: 'http://127.0.0.1:0', management_address: 'http://127.0.0.1:0', metrics_address: 'http://127.0.0.1:0', default_workers_per_model: '1' } });",
      "const workers = server.registry.version('neg').workerInfo().map((worker) => worker.status);",
      'const loaded = Object.keys(createRequire(import.meta.url).cache);',
      'await server.stop();',
      'console.log(JSON.stringify({ workers, loaded }));',
    ].join('\n');
    const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, encoding: 'utf8', timeout: 120_000 });
    assert.equal(result.status, 0, result.stderr);
    const { workers, loaded } = JSON.parse(result.stdout.trim().split('\n').pop()!) as { workers: string[]; loaded: string[] };
    assert.deepEqual(workers, ['READY'], 'the model serves: its worker thread loaded onnxruntime');
    assert.deepEqual(loaded.filter((path) => /node_modules\/(onnxruntime-node|onnxruntime-common|sharp|@img)\//.test(path)), []);
  } finally {
    rmSync(store, { recursive: true, force: true });
  }
});
