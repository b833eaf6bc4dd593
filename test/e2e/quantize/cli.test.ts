/**
 * `kiln quantize` end to end, as a user runs it: the real binary on the PP-OCR orientation
 * classifier with a folder of images, replayed ranges, byte-identical re-runs, and every kind
 * of bad input giving one clear line, a non-zero exit and no output file left behind.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { seededRandom } from '../../../src/core/random.js';
import { DataType, encodeModel, makeModel, makeNode, makeValueInfo } from '../../../src/onnx/index.js';
import { PP_OCR } from '../models.js';
import { buildMobileNetV2 } from '../../fixtures/mobilenet-v2.js';
import { encodeNpy } from '../../fixtures/npy.js';

const KILN = new URL('../../../bin/kiln.mjs', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'kiln-quantize-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const CLS = PP_OCR[0].path;
const PREPROCESS = 'resize=stretch:192x48,mean=0.5,std=0.5';

function kiln(...args: string[]) {
  const result = spawnSync(process.execPath, [KILN, ...args], { encoding: 'utf8', env: { ...process.env, KILN_DEBUG: '' } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Asserts a run failed with one `kiln: …` line matching `pattern` and wrote nothing beside `output`. */
function assertFailed(run: ReturnType<typeof kiln>, pattern: RegExp, output: string) {
  assert.equal(run.status, 1, `exit ${run.status}; stderr: ${run.stderr}`);
  const lines = run.stderr.trim().split('\n');
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0]!, /^kiln: /);
  assert.match(lines[0]!, pattern);
  assert.ok(!existsSync(output), 'no output file');
  const folder = join(output, '..');
  if (existsSync(folder)) assert.deepEqual(readdirSync(folder).filter((name) => name.endsWith('.tmp')), [], 'no temp files left');
}

const images = join(dir, 'images');
before(async () => {
  mkdirSync(images);
  // Grey text-line-like images: dark strokes on a light background, seeded.
  for (let index = 0; index < 6; index++) {
    const random = seededRandom(index + 1);
    const pixels = Buffer.alloc(160 * 40 * 3, 230);
    for (let stroke = 0; stroke < 40; stroke++) {
      const x = Math.floor(random() * 150);
      const y = 8 + Math.floor(random() * 22);
      for (let dx = 0; dx < 3; dx++) for (let dy = 0; dy < 8; dy++) pixels.fill(30, ((y + dy) * 160 + x + dx) * 3, ((y + dy) * 160 + x + dx) * 3 + 3);
    }
    await sharp(pixels, { raw: { width: 160, height: 40, channels: 3 } }).png().toFile(join(images, `line-${index}.png`));
  }
});

describe('kiln quantize', () => {
  const first = join(dir, 'cls.int8.onnx');
  const ranges = join(dir, 'cls.ranges.json');

  it('quantizes the PP-OCR classifier from a folder of images, fully fused, and reports size and SQNR', () => {
    const run = kiln('quantize', CLS, '-o', first, '--calib', images, '--preprocess', PREPROCESS, '--save-ranges', ranges, '--json');
    assert.equal(run.status, 0, run.stderr);
    const summary = JSON.parse(run.stdout);
    assert.equal(summary.calibration.samples, 6);
    assert.equal(summary.fusion.compute.fused, summary.fusion.compute.asked);
    assert.ok(summary.fusion.compute.asked >= 50, `${summary.fusion.compute.asked} Conv/MatMul/Gemm`);
    assert.equal(summary.fusion.unfused.length, 0);
    assert.ok(summary.sizeRatio < 0.5, `size ratio ${summary.sizeRatio}`);
    assert.ok(summary.sqnr['softmax_0.tmp_0'] > 15, `SQNR ${summary.sqnr['softmax_0.tmp_0']}`);
    assert.ok(summary.fusion.integerKernels.QLinearConv >= 50);
    assert.ok(summary.worstWeight.sqnrDb >= 35, `weight ${summary.worstWeight.name}: ${summary.worstWeight.sqnrDb} dB`);
    assert.ok(existsSync(ranges));
  });

  it('writes byte-identical output on a re-run, and when replaying the saved ranges without data', () => {
    const again = join(dir, 'cls.again.onnx');
    const replayed = join(dir, 'cls.replayed.onnx');
    assert.equal(kiln('quantize', CLS, '-o', again, '--calib', images, '--preprocess', PREPROCESS, '--sqnr-samples', '0').status, 0);
    const replay = kiln('quantize', CLS, '-o', replayed, '--ranges', ranges);
    assert.equal(replay.status, 0, replay.stderr);
    assert.match(replay.stdout, /ranges replayed from/);
    assert.ok(readFileSync(again).equals(readFileSync(first)), 'same bytes on a re-run');
    assert.ok(readFileSync(replayed).equals(readFileSync(first)), 'same bytes from replayed ranges');
  });

  it('prints a readable summary', () => {
    const run = kiln('quantize', CLS, '-o', join(dir, 'cls.text.onnx'), '--calib', images, '--preprocess', PREPROCESS, '--method', 'minmax', '--sqnr-samples', '2');
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^quantized +.*cls\.text\.onnx \([\d.]+ KiB, 0\.\d+× the size\)$/m);
    assert.match(run.stdout, /^calibration +minmax, 6 samples$/m);
    assert.match(run.stdout, /^fused +\d+\/\d+ nodes \(100\.0%\); Conv\/MatMul\/Gemm 54\/54 \(100\.0%\)$/m);
    assert.match(run.stdout, /^SQNR +softmax_0\.tmp_0: [\d.]+ dB/m);
  });

  it('calibrates from a folder of .npy samples (MobileNetV2 fixture), with the whole network fused', () => {
    const model = join(dir, 'mobilenet.onnx');
    writeFileSync(model, encodeModel(buildMobileNetV2({ resolution: 64, numClasses: 10 })));
    const samples = join(dir, 'npy');
    mkdirSync(samples);
    for (let index = 0; index < 4; index++) {
      const random = seededRandom(100 + index);
      const data = Float32Array.from({ length: 3 * 64 * 64 }, () => random() * 4 - 2);
      writeFileSync(join(samples, `sample-${index}.npy`), encodeNpy('<f4', [1, 3, 64, 64], data));
    }
    const run = kiln('quantize', model, '-o', join(dir, 'mobilenet.int8.onnx'), '--calib', samples, '--method', 'percentile', '--json');
    assert.equal(run.status, 0, run.stderr);
    const summary = JSON.parse(run.stdout);
    assert.deepEqual([summary.calibration.method, summary.calibration.samples], ['percentile', 4]);
    assert.deepEqual(summary.fusion.compute, { asked: 53, fused: 53 });
    assert.equal(summary.absorbed, 35);
    assert.ok(summary.sizeRatio < 0.3, `size ratio ${summary.sizeRatio}`);
  });

  describe('bad input', () => {
    const output = join(dir, 'bad', 'out.onnx');
    before(() => mkdirSync(join(dir, 'bad'), { recursive: true }));

    it('an empty calibration folder', () => {
      const empty = join(dir, 'empty');
      mkdirSync(empty);
      assertFailed(kiln('quantize', CLS, '-o', output, '--calib', empty), /calibration folder is empty/, output);
    });

    it('calibration tensors of the wrong shape', () => {
      const module = join(dir, 'wrong-shape.mjs');
      writeFileSync(module, 'export default [{ x: { type: "float32", dims: [1, 3, 48], data: new Float32Array(144) } }];\n');
      assertFailed(kiln('quantize', CLS, '-o', output, '--calib', module), /calibration sample 0: input 'x' has rank 3, the model wants 4|calibration sample 0: .*'x'/, output);
    });

    it('the wrong count of inputs', () => {
      const module = join(dir, 'two-inputs.mjs');
      writeFileSync(
        module,
        'const t = () => ({ type: "float32", dims: [1, 3, 48, 192], data: new Float32Array(3 * 48 * 192) });\nexport default [{ x: t(), y: t() }];\n',
      );
      assertFailed(kiln('quantize', CLS, '-o', output, '--calib', module), /calibration sample 0: .*'y'/, output);
    });

    it('a model that is already quantized', () => {
      assertFailed(kiln('quantize', first, '-o', output, '--calib', images, '--preprocess', PREPROCESS), /already quantized: node .* is a (QuantizeLinear|DequantizeLinear)/, output);
    });

    it('an opset too old to convert', () => {
      const old = join(dir, 'opset6.onnx');
      const model = makeModel({
        name: 'old',
        nodes: [makeNode('Relu', ['x'], ['y'])],
        inputs: [makeValueInfo('x', DataType.FLOAT, [1, 4])],
        outputs: [makeValueInfo('y', DataType.FLOAT, [1, 4])],
        opset: 6,
        irVersion: 3,
      });
      writeFileSync(old, encodeModel(model));
      assertFailed(kiln('quantize', old, '-o', output, '--calib', images, '--preprocess', 'resize=stretch:4x1'), /opset 6/, output);
    });

    it('an unwritable output path, before any calibration', () => {
      const unwritable = join(dir, 'no-such-folder', 'out.onnx');
      const started = Date.now();
      assertFailed(kiln('quantize', CLS, '-o', unwritable, '--calib', images, '--preprocess', PREPROCESS), /cannot write/, unwritable);
      assert.ok(Date.now() - started < 20_000);
    });

    it('neither calibration data nor ranges', () => {
      const run = kiln('quantize', CLS, '-o', output);
      assert.equal(run.status, 2, run.stderr);
      assert.match(run.stderr, /^kiln: kiln quantize needs --calib DATA/);
    });

    it('ranges saved for another model', () => {
      const foreign = join(dir, 'foreign.ranges.json');
      writeFileSync(foreign, JSON.stringify({ format: 'kiln-ranges', version: 1, method: 'mse', tensors: { nope: [0, 1] } }));
      assertFailed(kiln('quantize', CLS, '-o', output, '--ranges', foreign), /saved ranges name no tensor of this model/, output);
    });
  });
});

describe('kiln quantize --mode dynamic', () => {
  const REC = PP_OCR.find((model) => model.path.includes('rec'))!.path;

  it('quantizes the PP-OCR recognizer\'s MatMuls without calibration data, fused to DynamicQuantizeMatMul', () => {
    const output = join(dir, 'rec.dynamic.onnx');
    const run = kiln('quantize', REC, '-o', output, '--mode', 'dynamic', '--json');
    assert.equal(run.status, 0, run.stderr);
    const summary = JSON.parse(run.stdout);
    assert.deepEqual(summary.calibration, { dynamic: true });
    assert.deepEqual(summary.byOp, { MatMul: 9 });
    assert.deepEqual(summary.fusion.compute, { asked: 9, fused: 9 });
    assert.deepEqual(summary.fusion.integerKernels, { DynamicQuantizeMatMul: 9 });
    assert.ok(summary.sizeRatio > 0.6 && summary.sizeRatio < 0.8, String(summary.sizeRatio));
    assert.ok(summary.worstWeight.sqnrDb > 35, JSON.stringify(summary.worstWeight));
    const text = kiln('quantize', REC, '-o', output, '--mode', 'dynamic', '--force');
    assert.match(text.stdout, /^calibration {2}none: dynamic INT8/m);
  });

  it('refuses static-only flags, and a model with no MatMul or Gemm weight, in one line', () => {
    const output = join(dir, 'dynamic-refused.onnx');
    const withRanges = kiln('quantize', CLS, '-o', output, '--mode', 'dynamic', '--ranges', 'r.json');
    assert.equal(withRanges.status, 2, withRanges.stderr);
    assert.match(withRanges.stderr, /^kiln: --ranges applies to static quantization, not --mode dynamic \[KILN_CLI_USAGE\]\n$/);
    const relu = join(dir, 'relu-only.onnx');
    writeFileSync(relu, encodeModel(makeModel({ name: 'r', nodes: [makeNode('Relu', ['x'], ['y'])], inputs: [makeValueInfo('x', DataType.FLOAT, [1, 4])], outputs: [makeValueInfo('y', DataType.FLOAT, [1, 4])] })));
    assertFailed(kiln('quantize', relu, '-o', output, '--mode', 'dynamic'), /found no MatMul or Gemm with a constant float weight/, output);
  });
});

describe('kiln quantize --mode fp16', () => {
  it('converts the PP-OCR classifier to float16 at half the size, inputs and outputs still float32', async () => {
    const output = join(dir, 'cls.fp16.onnx');
    const run = kiln('quantize', CLS, '-o', output, '--mode', 'fp16', '--json');
    assert.equal(run.status, 0, run.stderr);
    const summary = JSON.parse(run.stdout);
    assert.deepEqual(summary.calibration, { fp16: true });
    assert.ok(summary.sizeRatio > 0.45 && summary.sizeRatio < 0.55, String(summary.sizeRatio));
    assert.ok(summary.fp16.convertedInitializers > 100, JSON.stringify(summary.fp16));
    assert.equal(summary.fp16.blockedNodes, 0);
    const text = kiln('quantize', CLS, '-o', output, '--mode', 'fp16', '--force');
    assert.match(text.stdout, /^float16 +.*0\.4\d\d× the size\)$/m);
    const refused = kiln('quantize', CLS, '-o', output, '--mode', 'fp16', '--save-ranges', 'r.json');
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /^kiln: --save-ranges applies to static quantization, not --mode fp16 \[KILN_CLI_USAGE\]\n$/);
  });
});
