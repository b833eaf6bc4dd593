import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { z } from 'zod';
import { DataType, encodeModel, makeModel, makeNode, makeValueInfo } from '../../src/onnx/index.js';
import { buildMobileNetV2 } from '../fixtures/mobilenet-v2.js';
import { PP_OCR } from './models.js';

const KILN = new URL('../../bin/kiln.mjs', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'kiln-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const mobilenetPath = join(dir, 'mobilenet-v2.onnx');
writeFileSync(mobilenetPath, encodeModel(buildMobileNetV2({ seed: 2 })));

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function kiln(...args: string[]): Run {
  return kilnWith({}, ...args);
}

function kilnWith(env: Record<string, string>, ...args: string[]): Run {
  const result = spawnSync(process.execPath, [KILN, ...args], { encoding: 'utf8', env: { ...process.env, KILN_DEBUG: '', ...env } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const dim = z.union([z.number().int().nonnegative(), z.string().min(1), z.null()]);
const signature = z.strictObject({ name: z.string().min(1), type: z.string().min(1), shape: z.array(dim).nullable() });
const InspectSchema = z.strictObject({
  file: z.string(),
  fileBytes: z.number().int().positive(),
  externalBytes: z.number().int().nonnegative(),
  irVersion: z.number().int().positive(),
  producer: z.string(),
  opsets: z.array(z.strictObject({ domain: z.string(), version: z.number().int().positive() })).min(1),
  inputs: z.array(signature).min(1),
  outputs: z.array(signature).min(1),
  nodeCount: z.number().int().positive(),
  ops: z.array(z.strictObject({ op: z.string(), count: z.number().int().positive() })).min(1),
  parameters: z.number().int().positive(),
  tensorCount: z.number().int().positive(),
  bytesByType: z.array(z.strictObject({ type: z.string(), tensors: z.number().int().positive(), bytes: z.number().int().nonnegative() })),
  externalDataFiles: z.array(z.string()),
  runtime: z.strictObject({ onnxruntime: z.string(), loads: z.literal(true) }).nullable(),
});

const ms = z.number().positive().finite();
const BenchSchema = z.strictObject({
  model: z.string(),
  onnxruntime: z.string(),
  cpu: z.string(),
  cores: z.number().int().positive(),
  optimization: z.enum(['disabled', 'basic', 'extended', 'all']),
  iterations: z.number().int().positive(),
  warmup: z.number().int().nonnegative(),
  results: z
    .array(
      z.strictObject({
        threads: z.number().int().nonnegative(),
        batch: z.number().int().positive(),
        runs: z.number().int().positive(),
        meanMs: ms,
        p50Ms: ms,
        p90Ms: ms,
        p99Ms: ms,
        minMs: ms,
        maxMs: ms,
        samplesPerSecond: ms,
      }),
    )
    .min(1),
});

const models = [
  ...PP_OCR.map((model) => ({ id: model.id, path: model.path, shape: `x=${model.shape.join(',')}`, params: [100_000, 5_000_000] })),
  { id: 'mobilenet-v2', path: mobilenetPath, shape: 'input=1,3,224,224', params: [3_300_000, 3_700_000] },
];

for (const model of models) {
  test(`kiln inspect --json on ${model.id} matches the schema`, () => {
    const run = kiln('inspect', model.path, '--json');
    assert.equal(run.status, 0, run.stderr);
    const report = InspectSchema.parse(JSON.parse(run.stdout));
    assert.equal(report.fileBytes, readFileSync(model.path).length);
    assert.ok(report.parameters >= model.params[0]! && report.parameters <= model.params[1]!, `${report.parameters} parameters`);
    assert.equal(report.nodeCount, report.ops.reduce((sum, op) => sum + op.count, 0));
    assert.ok(report.runtime);
  });

  test(`kiln bench --json on ${model.id} measures every (threads, batch) pair`, () => {
    const run = kiln('bench', model.path, '--shape', model.shape, '--batch', '1,2', '--threads', '1', '-n', '3', '-w', '1', '--json');
    assert.equal(run.status, 0, run.stderr);
    const report = BenchSchema.parse(JSON.parse(run.stdout));
    assert.deepEqual(report.results.map((row) => [row.threads, row.batch, row.runs]), [[1, 1, 3], [1, 2, 3]]);
    for (const row of report.results) assert.ok(row.p50Ms <= row.p99Ms && row.minMs <= row.p50Ms && row.p99Ms <= row.maxMs);
  });
}

test('kiln inspect prints a readable summary', () => {
  const run = kiln('inspect', PP_OCR[0].path);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^inputs +x +float32 +\[p2o\.DynamicDimension\.0, 3, /m);
  assert.match(run.stdout, /^Conv +53$/m);
  assert.match(run.stdout, /loads in onnxruntime 1\.\d+/);
});

/** A model whose protobuf is valid but which onnxruntime refuses (an op that does not exist). */
function writeRejectedModel(): string {
  const path = join(dir, 'rejected.onnx');
  const model = makeModel({
    name: 'rejected',
    nodes: [makeNode('NoSuchOp', ['x'], ['y'])],
    inputs: [makeValueInfo('x', DataType.FLOAT, [1])],
    outputs: [makeValueInfo('y', DataType.FLOAT, [1])],
  });
  writeFileSync(path, encodeModel(model));
  return path;
}

const badInputs: { name: string; args: () => string[]; status: number; message: RegExp }[] = [
  { name: 'missing file', args: () => ['inspect', join(dir, 'nope.onnx')], status: 1, message: /nope\.onnx: cannot read model \(no such file or directory\)/ },
  {
    name: 'not an ONNX file',
    args: () => {
      const path = join(dir, 'notes.onnx');
      writeFileSync(path, 'these are my notes, not a model\n'.repeat(20));
      return ['inspect', path];
    },
    status: 1,
    message: /notes\.onnx: not a valid ONNX model/,
  },
  {
    name: 'truncated file',
    args: () => {
      const path = join(dir, 'truncated.onnx');
      const bytes = readFileSync(PP_OCR[0].path);
      writeFileSync(path, bytes.subarray(0, Math.floor(bytes.length / 2)));
      return ['inspect', path];
    },
    status: 1,
    message: /truncated\.onnx: not a valid ONNX model \(protobuf decoding failed: .*truncated\?\)/,
  },
  { name: 'missing file (bench)', args: () => ['bench', join(dir, 'nope.onnx')], status: 1, message: /nope\.onnx: cannot read model \(no such file or directory\) \[KILN_IO_NOT_FOUND\]$/ },
  { name: 'a model onnxruntime rejects (inspect)', args: () => ['inspect', writeRejectedModel()], status: 1, message: /rejected\.onnx: onnxruntime cannot load the model: .*NoSuchOp/ },
  { name: 'a model onnxruntime rejects (bench)', args: () => ['bench', writeRejectedModel()], status: 1, message: /rejected\.onnx: onnxruntime cannot load the model: .*NoSuchOp/ },
  { name: 'a bad flag value', args: () => ['bench', PP_OCR[0].path, '--batch', 'eight'], status: 2, message: /--batch must be a comma-separated list|--batch must be a positive whole number, got 'eight'/ },
  { name: 'an unknown flag', args: () => ['inspect', PP_OCR[0].path, '--colour'], status: 2, message: /unknown option '--colour'/ },
  { name: 'a missing argument', args: () => ['inspect'], status: 2, message: /missing required argument 'model'/ },
  { name: 'a dynamic dim with no value', args: () => ['bench', PP_OCR[0].path], status: 1, message: /cls_infer\.onnx: input 'x' has a dynamic dimension 'p2o\.DynamicDimension\.\d': give it a value/ },
  { name: 'a shape that does not fit', args: () => ['bench', PP_OCR[1].path, '--shape', 'x=1,3,32,100'], status: 1, message: /rec_infer\.onnx: shape \[1, 3, 32, 100\] does not fit input 'x'/ },
];

for (const bad of badInputs) {
  test(`bad input: ${bad.name} → one line on stderr, exit ${bad.status}, no stack`, () => {
    const run = kiln(...bad.args());
    assert.equal(run.status, bad.status, `exit status; stderr: ${run.stderr}`);
    const lines = run.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, `stderr has ${lines.length} lines:\n${run.stderr}`);
    assert.match(lines[0]!, /^kiln: /);
    assert.match(lines[0]!, bad.message);
    // The stable code closes the line, to look up in docs/errors.md.
    assert.match(lines[0]!, bad.status === 2 ? / \[KILN_CLI_USAGE\]$/ : / \[KILN_[A-Z_]+\]$/);
    assert.doesNotMatch(run.stderr, /\n\s+at /);
    assert.equal(run.stdout, '');
  });
}

test('kiln demo walks inspect → bench → quantize → archive → predict → serve and reads its own page', () => {
  const out = join(dir, 'demo');
  const run = kiln('demo', '--iterations', '2', '--out', out);
  assert.equal(run.status, 0, run.stderr);
  const steps = ['step 1/6  inspect', 'step 2/6  bench', 'step 3/6  quantize', 'step 4/6  archive', 'step 5/6  predict', 'step 6/6  serve'];
  for (const step of steps) assert.ok(run.stdout.includes(step), `missing ${step}`);
  assert.match(run.stdout, /^fused +\d+\/\d+ nodes \(100\.0%\); Conv\/MatMul\/Gemm 54\/54 \(100\.0%\)$/m);
  assert.match(run.stdout, /^speed +FP32 p50 [\d.]+ ms, INT8 p50 [\d.]+ ms: [\d.]+× \(batch 1, interleaved runs\)$/m);
  assert.match(run.stdout, /^dynamic +recognizer, no calibration: 9\/9 MatMul fused \(9 DynamicQuantizeMatMul\), /m);
  assert.match(run.stdout, /^fp16 +detector, no calibration: \d+ weights float16 \(0 nodes kept float32\), .*\(0\.5\d\d×\)/m);
  assert.match(run.stdout, /wrote .*ppocr-cls\.mar .*handler image_classifier/);
  assert.match(run.stdout, /wrote .*ocr\.mar .*handler ocr/);
  // The page says these three lines; the OCR archive must read them back.
  assert.match(run.stdout, /^ {2}kiln takes ONNX models to production +score 0\.\d+$/m);
  assert.match(run.stdout, /^ {2}invoice 2026-11 total: 1,250\.40 +score/m);
  assert.match(run.stdout, /ppocr-cls\.mar on line-upside-down\.png: \{"upside-down":(1|0\.9)/);
  assert.match(run.stdout, /ppocr-cls-int8\.mar on line-upside-down\.png: \{"upside-down":/);
  assert.match(run.stdout, /200 Model "ocr" Version: 1\.0 registered with 1 initial workers/);
  assert.match(run.stdout, /predictions\/ppocr-cls -T truncated\.png +\(a bad request fails alone\)\n {4}400 "request 0 is not an image kiln can decode: .*"; \/ping 200 Healthy/);
  assert.match(run.stdout, /predictions\/ocr -T page\.png\n {4}200 text: "kiln takes ONNX models to production\\ninvoice 2026-11 total: 1,250\.40/);
  // The same classifier over the Open Inference Protocol, fed the image_classifier's preprocessing: upside down too.
  assert.match(run.stdout, /v2\/health\/ready\n {4}200 \{"ready":true\}/);
  assert.match(run.stdout, /v2\/models\/ppocr-cls-tensor\/infer -d @line-upside-down\.json\n {4}200 softmax_0\.tmp_0 \[1, 2\] = \[[\d.e-]+, (1\.000|0\.9\d\d)\]/);
});

test('kiln bench with two models measures both, interleaved, with speed-ups against the first', () => {
  const [cls] = PP_OCR;
  const run = kiln('bench', cls.path, mobilenetPath, '--dim', '*=1', '--shape', 'x=1,3,48,192', '--shape', 'input=1,3,224,224', '-n', '4', '-w', '1', '--threads', '1', '--json');
  assert.equal(run.status, 0, run.stderr);
  const report = JSON.parse(run.stdout) as { models: string[]; results: { model: string; batch: number; runs: number; p50Ms: number; speedup: number }[] };
  assert.deepEqual(report.models, [cls.path, mobilenetPath]);
  assert.deepEqual(report.results.map((row) => [row.model, row.batch, row.runs]), [[cls.path, 1, 4], [mobilenetPath, 1, 4]]);
  assert.equal(report.results[0]!.speedup, 1);
  const [first, second] = report.results;
  assert.ok(Math.abs(second!.speedup - first!.p50Ms / second!.p50Ms) < 1e-9);
  assert.ok(second!.speedup < 1, 'MobileNetV2 at 224 is slower than the 48x192 classifier');
});

test('a bare kiln prints the help on stdout and exits 0, as kiln --help does', () => {
  const bare = kiln();
  assert.equal(bare.status, 0, bare.stderr);
  assert.equal(bare.stderr, '');
  assert.match(bare.stdout, /^Usage: kiln \[options\] \[command\]/);
  assert.match(bare.stdout, /^ {2}quantize /m);
  assert.equal(bare.stdout, kiln('--help').stdout);
});

test('a typo in a command or an option gets "did you mean" on its one line, exit 2', () => {
  const command = kiln('quantise', 'x.onnx');
  assert.equal(command.status, 2);
  assert.equal(command.stderr, "kiln: unknown command 'quantise'; did you mean quantize? (see kiln --help) [KILN_CLI_USAGE]\n");
  const option = kiln('archive', '--modle-name', 'm');
  assert.equal(option.status, 2);
  assert.equal(option.stderr, "kiln: unknown option '--modle-name'; did you mean --model-name? (see kiln archive --help) [KILN_CLI_USAGE]\n");
});

test('KILN_DEBUG=1 keeps the code on the first line and adds the stack after it', () => {
  const run = kilnWith({ KILN_DEBUG: '1' }, 'inspect', join(dir, 'nope.onnx'));
  assert.equal(run.status, 1);
  const [first, ...rest] = run.stderr.trimEnd().split('\n');
  assert.match(first!, /^kiln: .*nope\.onnx: cannot read model .* \[KILN_IO_NOT_FOUND\]$/);
  assert.match(rest.join('\n'), /\n\s+at /);
});

test('kiln quantize refuses an existing output without --force and replaces it with --force', () => {
  const output = join(dir, 'exists.onnx');
  writeFileSync(output, 'keep me');
  const refused = kiln('quantize', PP_OCR[0].path, '-o', output, '--mode', 'fp16');
  assert.equal(refused.status, 1, refused.stdout);
  assert.equal(refused.stderr, `kiln: ${output} already exists: use --force to overwrite it [KILN_IO_OUTPUT_EXISTS]\n`);
  assert.equal(readFileSync(output, 'utf8'), 'keep me');
  const forced = kiln('quantize', PP_OCR[0].path, '-o', output, '--mode', 'fp16', '--force');
  assert.equal(forced.status, 0, forced.stderr);
  assert.notEqual(readFileSync(output, 'utf8'), 'keep me');
});
