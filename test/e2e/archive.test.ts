import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ZipFile } from 'yazl';
import { openArchive } from '../../src/archive/read.js';
import { silentLogger } from '../../src/core/log.js';
import { withArchiveHandler } from '../../src/handlers/from-archive.js';
import { isFailure, runBatch } from '../../src/handlers/run.js';
import { ppOcrAssetsDir } from '../../src/cli/default-models.js';
import { seededRandom } from '../../src/core/random.js';
import { DataType, encodeModel, makeModel, makeNode, makeValueInfo, writeModel } from '../../src/onnx/index.js';
import { randomWords, renderLine, renderPage } from '../fixtures/render-text.js';
import { characterAccuracy } from '../fixtures/text-metrics.js';

const KILN = new URL('../../bin/kiln.mjs', import.meta.url).pathname;
const root = new URL('../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'kiln-archive-e2e-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function kiln(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [KILN, ...args], { encoding: 'utf8', cwd: root });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** y = Relu(x) for x of shape [batch, 3]. */
function writeReluModel(path: string, external = false): void {
  const model = makeModel({
    name: 'relu',
    nodes: [makeNode('Relu', ['x'], ['y'])],
    inputs: [makeValueInfo('x', DataType.FLOAT, ['batch', 3])],
    outputs: [makeValueInfo('y', DataType.FLOAT, ['batch', 3])],
  });
  if (external) writeModel(model, path, { externalData: 'always' });
  else writeFileSync(path, encodeModel(model));
}

async function predict(archivePath: string, bodies: Uint8Array[]): Promise<{ text: string; json: boolean; status?: number }[]> {
  return withArchiveHandler(archivePath, { logger: silentLogger() }, async (ready) => {
    const outcomes = await runBatch(ready.handler, ready.model, bodies.map((body) => ({ input: { body } })));
    return outcomes.map((r) => {
      if (isFailure(r)) throw r;
      return { text: new TextDecoder().decode(r.body), json: r.json, ...(r.settings.status ? { status: r.settings.status } : {}) };
    });
  });
}

const tensorBody = (data: number[]) => new TextEncoder().encode(JSON.stringify({ inputs: { x: { dims: [1, 3], data } } }));

for (const format of ['default', 'zip-store', 'tgz', 'no-archive'] as const) {
  test(`kiln archive --archive-format ${format} → --inspect → tensor handler prediction`, async () => {
    const out = join(dir, `fmt-${format}`);
    mkdirSync(out);
    writeReluModel(join(out, 'relu.onnx'));
    writeFileSync(join(out, 'notes.txt'), 'extra file\n');
    mkdirSync(join(out, 'assets', 'sub'), { recursive: true });
    writeFileSync(join(out, 'assets', 'sub', 'labels.txt'), 'a\nb\n');
    const made = kiln('archive', '--model-name', 'relu', '--version', '2.0', '--serialized-file', join(out, 'relu.onnx'), '--handler', 'tensor',
      '--extra-files', `${join(out, 'notes.txt')},${join(out, 'assets')}`, '--export-path', out, '--archive-format', format);
    assert.equal(made.status, 0, made.stderr);
    const path = join(out, format === 'tgz' ? 'relu.tar.gz' : format === 'no-archive' ? 'relu' : 'relu.mar');
    assert.ok(existsSync(path), `${path} missing; stdout: ${made.stdout}`);
    const inspected = kiln('archive', '--inspect', path, '--json');
    assert.equal(inspected.status, 0, inspected.stderr);
    const report = JSON.parse(inspected.stdout);
    assert.deepEqual(report.manifest.model, { modelName: 'relu', serializedFile: 'relu.onnx', handler: 'tensor', modelVersion: '2.0' });
    assert.equal(report.manifest.runtime, 'typescript');
    assert.match(report.manifest.createdOn, /^\d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d$/);
    // Extra files sit in the root; a folder contributes its contents.
    assert.deepEqual(report.files.map((f: { name: string }) => f.name).sort(), ['MAR-INF/MANIFEST.json', 'notes.txt', 'relu.onnx', 'sub/labels.txt']);
    const [response] = await predict(path, [tensorBody([-1, 0.5, 2])]);
    assert.deepEqual(JSON.parse(response!.text), { outputs: { y: { dims: [1, 3], type: 'float32', data: [0, 0.5, 2] } } });
  });
}

test('an existing archive is kept unless --force; with --force it is replaced', () => {
  const out = join(dir, 'force');
  mkdirSync(out);
  writeReluModel(join(out, 'relu.onnx'));
  const args = ['archive', '--model-name', 'relu', '--serialized-file', join(out, 'relu.onnx'), '--handler', 'tensor', '--export-path', out];
  assert.equal(kiln(...args).status, 0);
  const before = statSync(join(out, 'relu.mar')).mtimeMs;
  const again = kiln(...args);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /relu\.mar already exists: use --force/);
  assert.equal(statSync(join(out, 'relu.mar')).mtimeMs, before);
  assert.equal(kiln(...args, '--force').status, 0);
});

test('external data files of the serialized model go into the archive and load', async () => {
  const out = join(dir, 'external');
  mkdirSync(out);
  const model = makeModel({
    name: 'add',
    nodes: [makeNode('Add', ['x', 'w'], ['y'])],
    inputs: [makeValueInfo('x', DataType.FLOAT, [1, 3])],
    outputs: [makeValueInfo('y', DataType.FLOAT, [1, 3])],
    initializers: [],
  });
  const { encodeTensor } = await import('../../src/onnx/index.js');
  model.graph!.initializer.push(encodeTensor({ name: 'w', dataType: DataType.FLOAT, dims: [1, 3], data: Float32Array.from([1, 2, 3]) }));
  writeModel(model, join(out, 'add.onnx'), { externalData: 'always', minExternalTensorBytes: 0 });
  const made = kiln('archive', '--model-name', 'add', '--serialized-file', join(out, 'add.onnx'), '--handler', 'tensor', '--export-path', out);
  assert.equal(made.status, 0, made.stderr);
  const [response] = await predict(join(out, 'add.mar'), [tensorBody([1, 1, 1])]);
  assert.deepEqual(JSON.parse(response!.text).outputs.y.data, [2, 3, 4]);
});

test('a TypeScript user handler with an npm import is bundled with esbuild and runs without a compiler', async () => {
  const out = join(dir, 'user');
  mkdirSync(out);
  writeReluModel(join(out, 'relu.onnx'));
  const made = kiln('archive', '--model-name', 'summary', '--serialized-file', join(out, 'relu.onnx'), '--handler', 'test/fixtures/handlers/yaml-summary.ts', '--export-path', out);
  assert.equal(made.status, 0, made.stderr);
  const inspected = JSON.parse(kiln('archive', '--inspect', join(out, 'summary.mar'), '--json').stdout);
  assert.equal(inspected.manifest.model.handler, 'handler.cjs');
  // The yaml package was bundled in: the archive's handler is self-contained.
  const bytes = inspected.files.find((f: { name: string }) => f.name === 'handler.cjs').bytes;
  assert.ok(bytes > 50_000, `handler.cjs is only ${bytes} bytes; was yaml bundled?`);
  const responses = await predict(join(out, 'summary.mar'), [
    new TextEncoder().encode(JSON.stringify({ dims: [1, 3], data: [-1, 2, 3] })),
    new TextEncoder().encode(JSON.stringify({ dims: [2, 3], data: [1, 1, 1, -5, 0, 0] })),
  ]);
  assert.deepEqual(responses.map((r) => r.text), ['dims:\n  - 1\n  - 3\nsum: 5\nmax: 3\n', 'dims:\n  - 2\n  - 3\nsum: 3\nmax: 1\n']);
});

test('a handler that does not compile is refused at archive time with the file and line', () => {
  const out = join(dir, 'broken');
  mkdirSync(out);
  writeReluModel(join(out, 'relu.onnx'));
  writeFileSync(join(out, 'broken.ts'), 'export default {\n  handle(: number) {}\n};\n');
  const made = kiln('archive', '--model-name', 'broken', '--serialized-file', join(out, 'relu.onnx'), '--handler', join(out, 'broken.ts'), '--export-path', out);
  assert.equal(made.status, 1);
  assert.match(made.stderr, /^kiln: .*broken\.ts: cannot bundle the handler: .*broken\.ts:2:\d+: /);
  assert.equal(existsSync(join(out, 'broken.mar')), false);
});

/** A .mar laid out as torch-model-archiver writes it, with a .pt model and a Python handler. */
async function writeTorchServeMar(path: string, model: { handler: string; serializedFile: string }): Promise<void> {
  const zip = new ZipFile();
  zip.addBuffer(Buffer.from(JSON.stringify({ createdOn: '28/07/2020 06:32:08', runtime: 'python', model: { modelName: 'densenet161', ...model, modelVersion: '1.0' }, archiverVersion: '0.12.0' }, null, 2)), 'MAR-INF/MANIFEST.json');
  // A TorchScript/.pt file is itself a zip: it starts with PK.
  zip.addBuffer(Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(64)]), model.serializedFile);
  zip.addBuffer(Buffer.from('from ts.torch_handler.image_classifier import ImageClassifier\n'), 'handler.py');
  zip.addBuffer(Buffer.from('{"0": ["n01440764", "tench"]}'), 'index_to_name.json');
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  writeFileSync(path, Buffer.concat(chunks));
}

for (const [name, model, pattern] of [
  ['a .pt model and a built-in handler', { handler: 'image_classifier', serializedFile: 'densenet161.pt' }, /a PyTorch serialized file 'densenet161\.pt'/],
  ['a Python handler file', { handler: 'handler.py', serializedFile: 'model.pt' }, /a Python handler 'handler\.py' and a PyTorch serialized file 'model\.pt'/],
  ['a Python handler and an ONNX-named file that is really a .pt', { handler: 'handler.py:handle', serializedFile: 'model.onnx' }, /a Python handler 'handler\.py'/],
] as const) {
  test(`a torch-model-archiver .mar with ${name} is refused, naming what kiln does not run`, async () => {
    const path = join(dir, `torchserve-${name.length}.mar`);
    await writeTorchServeMar(path, model);
    await assert.rejects(openArchive(path), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'KILN_ARCHIVE_UNSUPPORTED');
      assert.match(error.message, pattern);
      assert.match(error.message, /kiln runs ONNX models with TypeScript handlers/);
      return true;
    });
    const cli = kiln('archive', '--inspect', path);
    assert.equal(cli.status, 1);
    assert.match(cli.stderr, /^kiln: .*torchserve-\d+\.mar: this archive has /);
  });
}

test('a built-in handler with a .pt-in-disguise serialized file is refused as not ONNX', async () => {
  const path = join(dir, 'disguise.mar');
  await writeTorchServeMar(path, { handler: 'image_classifier', serializedFile: 'model.onnx' });
  await assert.rejects(openArchive(path), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'KILN_ARCHIVE_MODEL_INVALID');
    assert.match(error.message, /serialized file 'model\.onnx' is not an ONNX model \(it is a zip, like a TorchScript or PyTorch \.pt file\)/);
    return true;
  });
});

test('kiln archive refuses a Python handler and a model that is not ONNX', () => {
  const out = join(dir, 'refuse');
  mkdirSync(out);
  writeReluModel(join(out, 'relu.onnx'));
  writeFileSync(join(out, 'handler.py'), 'def handle(data, ctx): return data\n');
  writeFileSync(join(out, 'model.pt'), Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(32)]));
  const python = kiln('archive', '--model-name', 'p', '--serialized-file', join(out, 'relu.onnx'), '--handler', join(out, 'handler.py'), '--export-path', out);
  assert.equal(python.status, 1);
  assert.match(python.stderr, /handler\.py: kiln runs TypeScript handlers, not Python ones/);
  const pt = kiln('archive', '--model-name', 'p', '--serialized-file', join(out, 'model.pt'), '--handler', 'tensor', '--export-path', out);
  assert.equal(pt.status, 1);
  assert.match(pt.stderr, /model\.pt: not an ONNX model \(it is a zip archive/);
  const name = kiln('archive', '--model-name', '../evil', '--serialized-file', join(out, 'relu.onnx'), '--handler', 'tensor', '--export-path', out);
  assert.equal(name.status, 1);
  assert.match(name.stderr, /model name '\.\.\/evil' is not allowed/);
  assert.equal(existsSync(join(out, 'p.mar')), false);
});


const ASSETS = ppOcrAssetsDir();

test('PP-OCR cls as image_classifier with index_to_name.json tells upright from upside-down lines', async () => {
  const out = join(dir, 'cls');
  mkdirSync(out);
  writeFileSync(join(out, 'index_to_name.json'), JSON.stringify({ 0: 'upright', 1: ['180', 'upside-down'] }));
  // PP-OCR's classifier input: height 48, width up to 192, ratio kept, zero padding, (x/255-0.5)/0.5.
  writeFileSync(join(out, 'model-config.yaml'), 'batchSize: 8\nhandler:\n  image:\n    size: [48, 192]\n    fit: pad\n    mean: [0.5, 0.5, 0.5]\n    std: [0.5, 0.5, 0.5]\n    channelOrder: BGR\n  topk: 2\n');
  const made = kiln('archive', '--model-name', 'ppocr-cls', '--serialized-file', join(ASSETS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'), '--handler', 'image_classifier',
    '--extra-files', join(out, 'index_to_name.json'), '--config-file', join(out, 'model-config.yaml'), '--export-path', out);
  assert.equal(made.status, 0, made.stderr);
  const inspected = JSON.parse(kiln('archive', '--inspect', join(out, 'ppocr-cls.mar'), '--json').stdout);
  assert.deepEqual(inspected.manifest.model, { modelName: 'ppocr-cls', serializedFile: 'ch_ppocr_mobile_v2.0_cls_infer.onnx', handler: 'image_classifier', modelVersion: '1.0', configFile: 'model-config.yaml' });
  assert.equal(inspected.modelConfig.server.batchSize, 8);
  const random = seededRandom(21);
  const texts = Array.from({ length: 8 }, () => randomWords(random, 2).join(' '));
  const upright = await Promise.all(texts.map((text) => renderLine({ text, fontSize: 28 })));
  const flipped = await Promise.all(texts.map((text) => renderLine({ text, fontSize: 28, rotate180: true })));
  const responses = await predict(join(out, 'ppocr-cls.mar'), [...upright, ...flipped].map((line) => line.png));
  const labels = responses.map((response) => {
    const scores = JSON.parse(response.text) as Record<string, number>;
    assert.deepEqual(Object.keys(scores).sort(), ['upright', 'upside-down']);
    assert.ok(Math.abs(Object.values(scores).reduce((a, b) => a + b, 0) - 1) < 1e-4, 'probabilities sum to 1');
    return Object.entries(scores).sort((a, b) => b[1] - a[1])[0]![0];
  });
  const right = labels.filter((label, index) => label === (index < texts.length ? 'upright' : 'upside-down')).length;
  assert.ok(right >= 15, `${right}/16 orientations right: ${labels.join(', ')}`);
});

test('PP-OCR det+cls+rec as the ocr handler: `kiln predict` on a rendered page reads ≥ 95% of characters', async (t) => {
  const out = join(dir, 'ocr');
  mkdirSync(out);
  const made = kiln('archive', '--model-name', 'ocr', '--serialized-file', join(ASSETS, 'ch_PP-OCRv4_det_infer.onnx'), '--handler', 'ocr',
    '--extra-files', ['ch_ppocr_mobile_v2.0_cls_infer.onnx', 'ch_PP-OCRv4_rec_infer.onnx', 'ppocr_keys_v1.txt'].map((f) => join(ASSETS, f)).join(','), '--export-path', out);
  assert.equal(made.status, 0, made.stderr);
  const inspected = JSON.parse(kiln('archive', '--inspect', join(out, 'ocr.mar'), '--json').stdout);
  assert.deepEqual(inspected.files.map((f: { name: string }) => f.name).sort(), ['MAR-INF/MANIFEST.json', 'ch_PP-OCRv4_det_infer.onnx', 'ch_PP-OCRv4_rec_infer.onnx', 'ch_ppocr_mobile_v2.0_cls_infer.onnx', 'ppocr_keys_v1.txt']);
  const random = seededRandom(5);
  const page = await renderPage({ lines: Array.from({ length: 6 }, () => randomWords(random, 3).join(' ')), seed: 5, width: 640 });
  writeFileSync(join(out, 'page.png'), page.png);
  const predicted = kiln('predict', join(out, 'ocr.mar'), join(out, 'page.png'));
  assert.equal(predicted.status, 0, predicted.stderr);
  const response = JSON.parse(predicted.stdout) as { text: string; lines: { text: string; score: number; box: number[][] }[] };
  const truth = page.lines.map((line) => line.text).join('\n');
  const accuracy = characterAccuracy(truth, response.text);
  t.diagnostic(`character accuracy ${(accuracy * 100).toFixed(2)}% on ${truth.length} characters`);
  assert.ok(accuracy >= 0.95, `accuracy ${accuracy}\ntruth:\n${truth}\nread:\n${response.text}`);
  assert.equal(response.lines.length, page.lines.length);
  for (const line of response.lines) {
    assert.equal(line.box.length, 4);
    assert.ok(line.score > 0.5 && line.score <= 1);
  }
});

test('handler bundling: a kiln import other than kiln/handler is refused; import.meta.url is the bundle URL', async () => {
  const out = join(dir, 'bundle-rules');
  mkdirSync(out);
  writeReluModel(join(out, 'relu.onnx'));
  writeFileSync(join(out, 'wrong-import.ts'), "import { readModel } from 'kiln';\nexport default { initialize() {}, handle(r: unknown[]) { return r.map(() => typeof readModel); } };\n");
  const refused = kiln('archive', '--model-name', 'w', '--serialized-file', join(out, 'relu.onnx'), '--handler', join(out, 'wrong-import.ts'), '--export-path', out);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /import 'kiln' is not available to handlers: import from 'kiln\/handler'/);
  writeFileSync(join(out, 'meta.ts'), 'export default { initialize() {}, handle(r: unknown[]) { return r.map(() => import.meta.url); } };\n');
  const made = kiln('archive', '--model-name', 'meta', '--serialized-file', join(out, 'relu.onnx'), '--handler', join(out, 'meta.ts'), '--export-path', out);
  assert.equal(made.status, 0, made.stderr);
  const [response] = await predict(join(out, 'meta.mar'), [new Uint8Array([1])]);
  assert.match(response!.text, /^file:\/\/.*\/handler\.cjs$/);
});

test('the export folder is created when missing; an empty version and a missing config file are refused in one line', () => {
  const out = join(dir, 'edges');
  mkdirSync(out);
  writeReluModel(join(out, 'relu.onnx'));
  const base = ['archive', '--model-name', 'relu', '--serialized-file', join(out, 'relu.onnx'), '--handler', 'tensor'];
  const made = kiln(...base, '--export-path', join(out, 'model_store', 'nested'));
  assert.equal(made.status, 0, made.stderr);
  assert.ok(existsSync(join(out, 'model_store', 'nested', 'relu.mar')));
  const version = kiln(...base, '--version', '', '--export-path', out);
  assert.equal(version.status, 1);
  assert.match(version.stderr, /^kiln: model version '' is not allowed/);
  const config = kiln(...base, '--config-file', join(out, 'nope.yaml'), '--export-path', out);
  assert.equal(config.status, 1);
  assert.equal(config.stderr.trim().split('\n').length, 1);
  assert.match(config.stderr, /nope\.yaml: cannot read config file \(no such file or directory\)/);
});

test('torch-model-archiver flags: --runtime and -r refused naming what kiln does not run; --model-file next to ONNX ignored with a warning', () => {
  const out = join(dir, 'archiver-flags');
  mkdirSync(out);
  writeReluModel(join(out, 'relu.onnx'));
  writeFileSync(join(out, 'model.py'), 'class Net: pass\n');
  writeFileSync(join(out, 'requirements.txt'), 'numpy\n');
  const base = ['archive', '--model-name', 'relu', '--handler', 'tensor', '--export-path', out];
  const oneLine = (run: { status: number | null; stderr: string }, status: number, message: RegExp) => {
    assert.equal(run.status, status, run.stderr);
    assert.equal(run.stderr.trimEnd().split('\n').length, 1, run.stderr);
    assert.match(run.stderr.trimEnd(), message);
  };
  for (const runtime of ['python', 'python3', 'LSP']) {
    oneLine(kiln(...base, '--serialized-file', join(out, 'relu.onnx'), '--runtime', runtime), 1, new RegExp(`^kiln: --runtime ${runtime}: kiln does not run a Python runtime.* \\[KILN_ARCHIVE_UNSUPPORTED\\]$`));
  }
  oneLine(kiln(...base, '--serialized-file', join(out, 'relu.onnx'), '-r', join(out, 'requirements.txt')), 1, /--requirements-file .*requirements\.txt: kiln does not install Python packages.*\[KILN_ARCHIVE_UNSUPPORTED\]$/);
  oneLine(kiln(...base, '--model-file', join(out, 'model.py')), 1, /--model-file .*model\.py without --serialized-file is an eager-mode PyTorch model.*torch\.onnx\.export/);
  oneLine(kiln(...base, '--serialized-file', join(out, 'relu.onnx'), '--model-file', join(out, 'nope.py')), 1, /nope\.py: cannot read model file \(no such file or directory\) \[KILN_IO_NOT_FOUND\]$/);
  assert.equal(existsSync(join(out, 'relu.mar')), false);

  const accepted = kiln(...base, '--serialized-file', join(out, 'relu.onnx'), '--model-file', join(out, 'model.py'), '--runtime', 'typescript');
  assert.equal(accepted.status, 0, accepted.stderr);
  assert.match(accepted.stderr, /^kiln: warning: --model-file .*model\.py is ignored and not archived: .*relu\.onnx is ONNX/);
  assert.match(accepted.stdout, /wrote .*relu\.mar/);
  const listed = kiln('archive', '--inspect', join(out, 'relu.mar'), '--json');
  assert.equal(listed.status, 0, listed.stderr);
  assert.doesNotMatch(listed.stdout, /model\.py/);
});
