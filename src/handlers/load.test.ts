import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createManifest } from '../archive/manifest.js';
import { silentLogger } from '../core/log.js';
import { BatchContext, type ModelContextInit } from './context.js';
import { loadHandler } from './load.js';
import { PredictionError } from './types.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-load-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const model: ModelContextInit = {
  manifest: createManifest({ modelName: 'm', modelVersion: '1.0', handler: 'x' }),
  modelDir: dir,
  modelPath: undefined,
  modelYamlConfig: { greeting: 'hi' },
  systemProperties: { model_dir: dir, gpu_id: null, batch_size: 1, server_name: 'kiln', server_version: '0', limit_max_image_pixels: true },
  logger: silentLogger(),
};

async function roundTrip(file: string, code: string, spec = file): Promise<readonly unknown[]> {
  writeFileSync(join(dir, file), code);
  const handler = await loadHandler(spec, dir);
  await handler.initialize(new BatchContext(model, []));
  return handler.handle([{ body: 'a' }, { body: 'b' }], new BatchContext(model, [{}, {}]));
}

test('an object with handle(): initialize then handle, with this bound', async () => {
  const out = await roundTrip('object.cjs', `module.exports = { async initialize(ctx) { this.g = ctx.modelYamlConfig.greeting; }, async handle(reqs) { return reqs.map(r => this.g + r.body); } };`);
  assert.deepEqual(out, ['hia', 'hib']);
});

test('an ESM default export of steps (as esbuild emits it) runs preprocess → inference → postprocess', async () => {
  const out = await roundTrip(
    'steps.cjs',
    `exports.default = { initialize() {}, preprocess(r) { return r.map(x => x.body); }, inference(b) { return b.map(x => x.toUpperCase()); }, postprocess(o) { return o.map(x => ({ out: x })); } };`,
  );
  assert.deepEqual(out, [{ out: 'A' }, { out: 'B' }]);
});

test('a class with initialize/handle is instantiated once', async () => {
  const out = await roundTrip('class.cjs', `module.exports = class { initialize() { this.n = 1; } handle(r) { return r.map(() => this.n++); } };`);
  assert.deepEqual(out, [1, 2]);
});

test('a module function is called as fn(null, ctx) to initialize, then fn(batch, ctx), selected by file:function', async () => {
  const out = await roundTrip(
    'fn.cjs',
    `let ready = false; exports.entry = (data, ctx) => { if (data === null) { ready = true; return; } return data.map(d => ready + ':' + d.body); };`,
    'fn.cjs:entry',
  );
  assert.deepEqual(out, ['true:a', 'true:b']);
});

test("require('kiln/handler') gives the server's own handler API, so instanceof PredictionError holds", async () => {
  writeFileSync(join(dir, 'kiln.cjs'), `const { PredictionError, defineHandler } = require('kiln/handler'); module.exports = defineHandler({ initialize() {}, preprocess(r) { return r; }, inference() { throw new PredictionError('nope', 418); }, postprocess(o) { return o; } });`);
  const handler = await loadHandler('kiln.cjs', dir);
  await handler.initialize(new BatchContext(model, []));
  await assert.rejects(handler.handle([{}], new BatchContext(model, [{}])), (error) => error instanceof PredictionError && error.status === 418);
});

test('built-in names resolve without touching the folder', async () => {
  for (const name of ['image_classifier', 'tensor']) assert.equal(typeof (await loadHandler(name, '/nonexistent')).handle, 'function');
});

for (const [name, file, code, spec, expected] of [
  ['a missing file', undefined, undefined, 'nothing.cjs', 'KILN_HANDLER_NOT_FOUND'],
  ['a path escaping the archive', undefined, undefined, '../../etc/passwd', 'KILN_HANDLER_NOT_FOUND'],
  ['a syntax error', 'syntax.cjs', 'module.exports = {', 'syntax.cjs', 'KILN_HANDLER_LOAD_FAILED'],
  ['a module that throws while loading', 'throws.cjs', 'throw new Error("top-level")', 'throws.cjs', 'KILN_HANDLER_LOAD_FAILED'],
  ['no handler export', 'empty.cjs', 'module.exports = { version: 1 };', 'empty.cjs', 'KILN_HANDLER_LOAD_FAILED'],
  ['a missing named export', 'named.cjs', 'exports.a = () => [];', 'named.cjs:b', 'KILN_HANDLER_LOAD_FAILED'],
] as const) {
  test(`loading ${name} → ${expected}`, async () => {
    if (file) writeFileSync(join(dir, file), code!);
    await assert.rejects(loadHandler(spec, dir), (error: Error & { code?: string }) => {
      assert.equal(error.code, expected);
      assert.match(error.message, new RegExp(spec.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      return true;
    });
  });
}
