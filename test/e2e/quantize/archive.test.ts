/**
 * `kiln quantize cls.mar -o cls-int8.mar --calib lines/` on the PP-OCR orientation classifier
 * archive the demo builds (image_classifier, handler.image: ppocr-cls): calibration goes through
 * the archive's own preprocessing, the new archive differs only in its model, and both archives
 * served in-process label a held-out set of rendered lines (other words and sizes than the
 * calibration lines, half upside down) the same way.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { extractArchive } from '../../../src/archive/index.js';
import { predictArchive } from '../../../src/cli/commands/predict.js';
import { ppOcrAssetsDir } from '../../../src/cli/default-models.js';
import { CLS_LABELS, CLS_MODEL_CONFIG, renderDemoPage } from '../../../src/cli/demo-assets.js';
import { createModelArchive } from '../../../src/handlers/model-archive.js';
import { decodeModel, encodeModel, readModel, writeModel } from '../../../src/onnx/index.js';
import { foldedPreprocessOf, unfoldImagePreprocess } from '../../../src/onnx/passes/index.js';
import { buildMobileNetV2 } from '../../fixtures/mobilenet-v2.js';
import sharp from 'sharp';
import { collectSamples, generateClsSamples } from '../../fixtures/ocr-eval.js';

const KILN = new URL('../../../bin/kiln.mjs', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'kiln-quantize-archive-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function kiln(...args: string[]) {
  return spawnSync(process.execPath, [KILN, ...args], { encoding: 'utf8', env: { ...process.env, KILN_DEBUG: '' } });
}

// The demo's kind of calibration lines: short phrases at the default size, half upside down.
const CALIBRATION = [
  'kiln', 'quantize', 'invoice 2026', 'total 1,250.40', 'serve models', 'ONNX Runtime', 'batch 8', 'INT8 weights',
  'per channel', 'calibration', 'TorchServe', 'archive.mar', 'predict', 'latency p99', 'MobileNetV2', 'order #4471',
];
// Held out: other words, other font sizes; every second line upside down.
const HELD_OUT = [
  'shipping address', 'receipt no. 88213', 'grand total', 'VAT 19%', 'thank you', 'due date 2027-01-15', 'item qty price',
  'warehouse B', 'Berlin 10115', 'tracking 1Z999', 'customer service', 'page 2 of 3', 'signature', 'bank transfer',
  'discount -5.00', 'subtotal 412.90', 'reference ABC-7', 'delivery note', 'phone +49 30 1234', 'email us', 'Monday to Friday',
  'serial 00412', 'model X200', 'warranty 2 years', 'return policy', 'paid in full', 'cash', 'card ending 4242', 'tip 3.50',
  'table 12', 'server: Anna', 'opening hours', 'closed Sunday', 'net weight 500 g', 'best before', 'lot 7781', 'made in EU',
  'keep dry', 'fragile', 'this side up',
];
const SIZES = [18, 22, 26, 32, 36];

const archive = join(dir, 'cls.mar');
const lines = join(dir, 'lines');
const heldOut: { body: Buffer; label: 'upright' | 'upside-down' }[] = [];

before(async () => {
  const assets = ppOcrAssetsDir();
  writeFileSync(join(dir, 'model-config.yaml'), CLS_MODEL_CONFIG);
  writeFileSync(join(dir, 'index_to_name.json'), CLS_LABELS);
  await createModelArchive({
    modelName: 'cls',
    serializedFile: join(assets, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
    handler: 'image_classifier',
    extraFiles: [join(dir, 'index_to_name.json')],
    configFile: join(dir, 'model-config.yaml'),
    exportPath: dir,
  });
  mkdirSync(lines);
  for (const [index, words] of CALIBRATION.entries()) {
    writeFileSync(join(lines, `line-${String(index).padStart(2, '0')}.png`), await renderDemoPage([words], { rotate180: index % 2 === 1, margin: 4 }));
  }
  for (const [index, words] of HELD_OUT.entries()) {
    const rotate180 = index % 2 === 1;
    const fontSize = SIZES[index % SIZES.length]!;
    heldOut.push({ body: await renderDemoPage([words], { rotate180, fontSize, margin: 2 + (index % 4) }), label: rotate180 ? 'upside-down' : 'upright' });
  }
});

/** The top label of each held-out line, served by `mar` in-process. */
async function labels(mar: string): Promise<string[]> {
  const responses = (await predictArchive(mar, heldOut.map((line) => new Uint8Array(line.body)))) as Record<string, number>[];
  return responses.map((scores) => Object.entries(scores).sort((a, b) => b[1] - a[1])[0]![0]);
}

async function files(mar: string): Promise<Map<string, Buffer>> {
  const extracted = await extractArchive(mar);
  try {
    return new Map(extracted.files.map((name) => [name, readFileSync(join(extracted.dir, name))]));
  } finally {
    await extracted.remove();
  }
}

it('quantizes the classifier inside the archive; only the model changes, and it serves the same labels', async () => {
  const output = join(dir, 'cls-int8.mar');
  const run = kiln('quantize', archive, '-o', output, '--calib', lines, '--json');
  assert.equal(run.status, 0, run.stderr);
  const summary = JSON.parse(run.stdout) as { calibration: { samples: number }; archive: { handler: string; handlerImage: boolean; serializedFile: string }; fusion: { compute: { fused: number; asked: number } } };
  assert.equal(summary.calibration.samples, CALIBRATION.length);
  assert.equal(summary.archive.handler, 'image_classifier');
  assert.ok(summary.archive.handlerImage);
  assert.ok(summary.fusion.compute.fused > 0);

  const before = await files(archive);
  const after = await files(output);
  const model = summary.archive.serializedFile;
  assert.deepEqual([...after.keys()], [...before.keys()]);
  for (const [name, bytes] of before) {
    if (name === model) assert.ok(after.get(name)!.length < bytes.length / 2, 'the model inside is the INT8 one');
    else assert.ok(after.get(name)!.equals(bytes), `${name} is copied byte for byte`);
  }

  const truth = heldOut.map((line) => line.label);
  const fp32 = await labels(archive);
  const int8 = await labels(output);
  const accuracy = (predicted: string[]) => (100 * predicted.filter((label, index) => label === truth[index]).length) / truth.length;
  const agreement = int8.filter((label, index) => label === fp32[index]).length;
  console.log(`held-out orientation lines: ${truth.length}; FP32 ${accuracy(fp32).toFixed(1)}%, INT8 ${accuracy(int8).toFixed(1)}%, same label on ${agreement}/${truth.length}`);
  assert.ok(accuracy(fp32) >= 90, `FP32 accuracy ${accuracy(fp32)}% (the held-out set is too hard to mean anything)`);
  assert.ok(Math.abs(accuracy(fp32) - accuracy(int8)) <= 0.5, `FP32 ${accuracy(fp32)}% vs INT8 ${accuracy(int8)}%`);
  assert.deepEqual(int8, fp32);

  // The same flags on the bare model with the preset the archive's config names give the same
  // bytes: the archive path calibrates through handler.image and the library's quantize, nothing else.
  const bare = join(dir, 'cls-bare-int8.onnx');
  const direct = kiln('quantize', join(ppOcrAssetsDir(), 'ch_ppocr_mobile_v2.0_cls_infer.onnx'), '-o', bare, '--calib', lines, '--preprocess', 'ppocr-cls');
  assert.equal(direct.status, 0, direct.stderr);
  assert.ok(readFileSync(bare).equals(after.get(model)!), 'the model inside equals the bare model quantized with --preprocess ppocr-cls');
});

it('keeps the orientation accuracy on the project\'s held-out orientation set (400 lines, evaluation seeds)', async () => {
  const output = join(dir, 'cls-int8.mar');
  const samples = await collectSamples(generateClsSamples({ split: 'evaluation', count: 400 }));
  const bodies = await Promise.all(
    samples.map(async ({ image }) => new Uint8Array(await sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: 3 } }).png().toBuffer())),
  );
  const served = async (mar: string) =>
    ((await predictArchive(mar, bodies)) as Record<string, number>[]).map((scores) => (Object.entries(scores).sort((a, b) => b[1] - a[1])[0]![0] === 'upright' ? 0 : 1));
  const fp32 = await served(archive);
  const int8 = await served(output);
  const accuracy = (predicted: number[]) => (100 * predicted.filter((label, index) => label === samples[index]!.label).length) / samples.length;
  const agreement = int8.filter((label, index) => label === fp32[index]).length;
  console.log(`orientation evaluation set: ${samples.length} lines; FP32 ${accuracy(fp32).toFixed(2)}%, INT8 ${accuracy(int8).toFixed(2)}%, same label on ${agreement}/${samples.length}`);
  assert.ok(accuracy(fp32) - accuracy(int8) <= 0.5, `FP32 ${accuracy(fp32)}% vs INT8 ${accuracy(int8)}%`);
});

it('refuses bare-model-only flags, a contradicting --preprocess and an ocr archive in one line, leaving no output', async () => {
  const output = join(dir, 'refused.mar');
  const oneLine = (run: ReturnType<typeof kiln>, pattern: RegExp) => {
    assert.notEqual(run.status, 0);
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    assert.match(run.stderr, pattern);
    assert.ok(!existsSync(output));
  };
  oneLine(kiln('quantize', archive, '-o', output, '--calib', lines, '--report', join(dir, 'r.html')), /--report compares two model files/);
  oneLine(kiln('quantize', archive, '-o', join(dir, 'cls-int8.onnx'), '--calib', lines), /-o must name the new \.mar/);
  oneLine(kiln('quantize', archive, '-o', output, '--calib', lines, '--preprocess', 'imagenet'), /--preprocess contradicts .*handler\.image/);

  // A failure after the archive was opened (here the quantizer's own check of --exclude-nodes)
  // leaves neither the output nor the extracted files or the temp model behind.
  const temp = join(dir, 'tmp');
  mkdirSync(temp);
  const failed = spawnSync(process.execPath, [KILN, 'quantize', archive, '-o', output, '--calib', lines, '--exclude-nodes', 'no_such_node'], {
    encoding: 'utf8',
    env: { ...process.env, KILN_DEBUG: '', TMPDIR: temp },
  });
  oneLine(failed, /no node named 'no_such_node'/);
  // (tsx and onnxruntime keep their own caches there; kiln's temp folders all start with kiln-.)
  assert.deepEqual(readdirSync(temp).filter((name) => name.startsWith('kiln-')), []);

  const assets = ppOcrAssetsDir();
  await createModelArchive({
    modelName: 'ocr',
    serializedFile: join(assets, 'ch_PP-OCRv4_det_infer.onnx'),
    handler: 'ocr',
    extraFiles: ['ch_ppocr_mobile_v2.0_cls_infer.onnx', 'ch_PP-OCRv4_rec_infer.onnx', 'ppocr_keys_v1.txt'].map((file) => join(assets, file)),
    exportPath: dir,
  });
  oneLine(kiln('quantize', join(dir, 'ocr.mar'), '-o', output, '--calib', lines), /ocr archive holds three models/);
});

/** A float32 .npy file (format 1.0) of `shape`, values from a fixed sequence in [-1, 1). */
function npy(shape: readonly number[], seed: number): Buffer {
  const count = shape.reduce((a, b) => a * b, 1);
  const values = Float32Array.from({ length: count }, (_, index) => (((index * 7919 + seed * 104729) % 2000) / 1000) - 1);
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const head = Buffer.from([0x93, ...Buffer.from('NUMPY'), 1, 0, 0, 0]);
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(values.buffer)]);
}

it('calibrates a tensor-handler archive on .npy files, drops the old external data, and refuses --preprocess for it', async () => {
  // The classifier with its weights in a side file, as large models are archived.
  const external = join(dir, 'external');
  mkdirSync(external);
  writeModel(readModel(join(ppOcrAssetsDir(), 'ch_ppocr_mobile_v2.0_cls_infer.onnx')).model, join(external, 'cls.onnx'), { externalData: 'always' });
  const archived = await createModelArchive({ modelName: 'cls-tensor', serializedFile: join(external, 'cls.onnx'), handler: 'tensor', exportPath: dir });
  assert.deepEqual([...archived.files].sort(), ['MAR-INF/MANIFEST.json', 'cls.onnx', 'cls.onnx.data']);
  const tensors = join(dir, 'tensors');
  mkdirSync(tensors);
  for (let index = 0; index < 4; index++) writeFileSync(join(tensors, `sample-${index}.npy`), npy([1, 3, 48, 192], index));
  const output = join(dir, 'cls-tensor-int8.mar');
  const refused = kiln('quantize', join(dir, 'cls-tensor.mar'), '-o', output, '--calib', tensors, '--preprocess', 'ppocr-cls');
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /takes tensors, not images/);
  assert.ok(!existsSync(output));
  const run = kiln('quantize', join(dir, 'cls-tensor.mar'), '-o', output, '--calib', tensors, '--method', 'minmax', '--per-tensor', '--sqnr-samples', '2', '--json');
  assert.equal(run.status, 0, run.stderr);
  const summary = JSON.parse(run.stdout) as { calibration: { method: string; samples: number }; archive: { handler: string; handlerImage: boolean } };
  assert.deepEqual(summary.calibration, { method: 'minmax', samples: 4 });
  assert.deepEqual([summary.archive.handler, summary.archive.handlerImage], ['tensor', false]);
  const quantized = await extractArchive(output);
  try {
    // The INT8 model is written inline: the old side file would be dead weight, so it is gone.
    assert.deepEqual(quantized.files, ['MAR-INF/MANIFEST.json', 'cls.onnx']);
    assert.deepEqual(readModel(join(quantized.dir, 'cls.onnx')).externalFiles, []);
  } finally {
    await quantized.remove();
  }
  // --force semantics: an existing output is refused without it, replaced with it.
  assert.match(kiln('quantize', join(dir, 'cls-tensor.mar'), '-o', output, '--calib', tensors).stderr, /already exists: use --force/);
  assert.equal(kiln('quantize', join(dir, 'cls-tensor.mar'), '-o', output, '--calib', tensors, '--force', '--sqnr-samples', '0').status, 0);
});

it('quantizes an archive whose model has the preprocessing folded in (kiln archive\'s default) as the float model, and folds the result again', async () => {
  const folder = join(dir, 'folded');
  mkdirSync(join(folder, 'photos'), { recursive: true });
  writeModel(buildMobileNetV2({ resolution: 64, widthMultiplier: 0.5, numClasses: 10 }), join(folder, 'mnv2.onnx'));
  writeFileSync(join(folder, 'model-config.yaml'), 'handler:\n  image: {preset: imagenet, resize: {mode: shorter-side, size: 72, crop: 64}}\n');
  for (let index = 0; index < 6; index++) {
    const pixels = Buffer.from(Array.from({ length: 96 * 80 * 3 }, (_, at) => (at * (index + 3) * 37 + index * 11) % 251));
    writeFileSync(join(folder, 'photos', `p${index}.jpg`), await sharp(pixels, { raw: { width: 96, height: 80, channels: 3 } }).jpeg().toBuffer());
  }
  const common = { serializedFile: join(folder, 'mnv2.onnx'), handler: 'image_classifier', configFile: join(folder, 'model-config.yaml'), exportPath: folder };
  const folded = await createModelArchive({ ...common, modelName: 'folded' });
  const float = await createModelArchive({ ...common, modelName: 'float', foldPreprocess: false });
  assert.deepEqual([folded.preprocessFolded, float.preprocessFolded], [true, false]);
  for (const name of ['folded', 'float']) {
    const run = kiln('quantize', join(folder, `${name}.mar`), '-o', join(folder, `${name}-int8.mar`), '--calib', join(folder, 'photos'));
    assert.equal(run.status, 0, run.stderr);
  }
  const modelIn = async (mar: string) => (await files(mar)).get('mnv2.onnx')!;
  const foldedInt8 = readModelBytes(await modelIn(join(folder, 'folded-int8.mar')));
  const floatInt8 = readModelBytes(await modelIn(join(folder, 'float-int8.mar')));
  assert.ok(foldedPreprocessOf(foldedInt8), 'the quantized model is folded again');
  assert.ok(foldedInt8.graph!.node.some((node) => node.opType === 'QLinearConv' || node.opType === 'QuantizeLinear'), 'and quantized');
  const unfolded = unfoldImagePreprocess(foldedInt8)!;
  assert.ok(Buffer.from(encodeModel(unfolded.model)).equals(Buffer.from(encodeModel(floatInt8))), 'the same INT8 model as quantizing the float archive');

  // The folded model on its own (taken out of the archive) quantizes the same way, with the
  // description it was folded with; another description is refused in one line.
  writeFileSync(join(folder, 'folded.onnx'), (await files(join(folder, 'folded.mar'))).get('mnv2.onnx')!);
  const bare = kiln('quantize', join(folder, 'folded.onnx'), '-o', join(folder, 'bare-int8.onnx'), '--calib', join(folder, 'photos'), '--preprocess', 'preset=imagenet,resize=shorter-side:72:64');
  assert.equal(bare.status, 0, bare.stderr);
  assert.ok(readFileSync(join(folder, 'bare-int8.onnx')).equals(await modelIn(join(folder, 'folded-int8.mar'))), 'the bare folded model quantizes to the archive\'s INT8 model');
  const other = kiln('quantize', join(folder, 'folded.onnx'), '-o', join(folder, 'other-int8.onnx'), '--calib', join(folder, 'photos'), '--preprocess', 'preset=imagenet,resize=shorter-side:72:64,order=bgr');
  assert.notEqual(other.status, 0);
  assert.match(other.stderr, /has its image preprocessing folded in .* calibrate with the one it was folded with/);
  assert.ok(!existsSync(join(folder, 'other-int8.onnx')));
});

function readModelBytes(bytes: Uint8Array) {
  return decodeModel(bytes, 'model in the archive');
}
