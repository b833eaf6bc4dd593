import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  DataType,
  allTensors,
  decodeModel,
  encodeModel,
  encodeTensor,
  isExternal,
  makeModel,
  makeNode,
  makeValueInfo,
  readModel,
  writeModel,
} from '../../src/onnx/index.js';
import { seededRandom } from '../../src/core/random.js';
import { Engine, makeFeeds } from '../../src/runtime/index.js';
import { buildMobileNetV2 } from '../fixtures/mobilenet-v2.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-external-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function logits(model: string | Uint8Array, seed = 11): Promise<Float32Array> {
  const engine = await Engine.load(model, { intraOpThreads: 1 });
  try {
    const outputs = await engine.run(makeFeeds(engine.inputs, { batch: 1, seed }));
    return Object.values(outputs)[0]!.data as Float32Array;
  } finally {
    await engine.release();
  }
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

test('a lowered threshold writes side files that re-read and run bit-identically in ORT', async () => {
  const model = buildMobileNetV2({ seed: 5 });
  const inline = encodeModel(model);
  const path = join(dir, 'mobilenet.onnx');
  const result = writeModel(model, path, { externalDataThreshold: 1_000_000 });
  assert.equal(result.externalFile, 'mobilenet.onnx.data');
  assert.ok(result.externalTensors > 50, `only ${result.externalTensors} tensors went external`);
  assert.ok(statSync(path).size < inline.length / 10, 'the .onnx should hold the graph, not the weights');
  assert.equal(statSync(join(dir, 'mobilenet.onnx.data')).size, result.externalBytes);
  // The caller's model was not changed by writing.
  assert.equal(Buffer.compare(Buffer.from(encodeModel(model)), Buffer.from(inline)), 0);
  // The written file really points at the side file.
  const onDisk = decodeModel(readFileSync(path));
  assert.ok([...allTensors(onDisk)].some(({ tensor }) => isExternal(tensor)));
  // ORT resolves the side file itself; kiln's reader loads it back to the same inline bytes.
  const expected = await logits(inline);
  assert.ok(sameBits(await logits(path), expected), 'ORT output from the external-data model differs');
  const reread = readModel(path);
  assert.deepEqual(reread.externalFiles, ['mobilenet.onnx.data']);
  assert.equal(Buffer.compare(Buffer.from(encodeModel(reread.model)), Buffer.from(inline)), 0);
});

test('large tensors start at page-aligned offsets in the side file', () => {
  const random = seededRandom(3);
  const big = encodeTensor({ name: 'w', dataType: DataType.FLOAT, dims: [512, 1024], data: Float32Array.from({ length: 512 * 1024 }, random) });
  const small = encodeTensor({ name: 'b', dataType: DataType.FLOAT, dims: [300], data: Float32Array.from({ length: 300 }, random) });
  const model = makeModel({
    name: 'aligned',
    nodes: [makeNode('Add', ['x', 'b'], ['y']), makeNode('MatMul', ['y', 'w'], ['z'])],
    inputs: [makeValueInfo('x', DataType.FLOAT, [1, 300])],
    outputs: [makeValueInfo('z', DataType.FLOAT, [1, 1024])],
    initializers: [small, big],
  });
  // Shape mismatch is irrelevant here: only the layout of the side file is checked.
  writeModel(model, join(dir, 'aligned.onnx'), { externalData: 'always' });
  const onDisk = decodeModel(readFileSync(join(dir, 'aligned.onnx')));
  const offsets = Object.fromEntries(
    onDisk.graph!.initializer.map((tensor) => [tensor.name, Number(tensor.externalData.find((entry) => entry.key === 'offset')!.value)]),
  );
  assert.equal(offsets['b'], 0);
  assert.equal(offsets['w']! % 4096, 0);
  assert.ok(offsets['w']! >= 1200);
});

test('a failed external write leaves no side file and no temp file behind', () => {
  const model = buildMobileNetV2({ seed: 5 });
  const target = join(dir, 'missing-dir', 'model.onnx');
  assert.throws(() => writeModel(model, target, { externalData: 'always' }), { code: 'KILN_IO_WRITE_FAILED' });
  assert.equal(existsSync(join(dir, 'missing-dir')), false);
});

const big = process.env['KILN_BIG'] === '1';
test('KILN_BIG=1: a model whose weights pass 2 GB is written with external data, re-read and run', { skip: !big && 'set KILN_BIG=1 (needs ~8 GB of memory and a minute)' }, async () => {
  // Nine 8192x8192 float32 MatMuls: 2.4 GB of weights, more than one protobuf message can hold.
  const size = 8192;
  const layers = 9;
  const random = seededRandom(99);
  const scale = Math.sqrt(3 / size);
  const initializers = [];
  const nodes = [];
  for (let layer = 0; layer < layers; layer++) {
    const weights = new Float32Array(size * size);
    for (let index = 0; index < weights.length; index++) weights[index] = (random() * 2 - 1) * scale;
    initializers.push(encodeTensor({ name: `w${layer}`, dataType: DataType.FLOAT, dims: [size, size], data: weights }));
    nodes.push(makeNode('MatMul', [layer === 0 ? 'x' : `h${layer}`, `w${layer}`], [layer === layers - 1 ? 'y' : `h${layer + 1}`]));
  }
  const model = makeModel({
    name: 'big',
    nodes,
    inputs: [makeValueInfo('x', DataType.FLOAT, ['batch', size])],
    outputs: [makeValueInfo('y', DataType.FLOAT, ['batch', size])],
    initializers,
  });
  assert.throws(() => encodeModel(model), { code: 'KILN_ONNX_TOO_LARGE' });
  const path = join(dir, 'big.onnx');
  const result = writeModel(model, path);
  assert.ok(result.externalBytes > 2 ** 31, `${result.externalBytes} external bytes`);
  assert.ok(result.fileBytes < 1_000_000);
  const expected = await logits(path, 4);
  assert.ok(expected.every(Number.isFinite));
  const reread = readModel(path);
  const again = join(dir, 'big-again.onnx');
  writeModel(reread.model, again);
  assert.ok(sameBits(await logits(again, 4), expected));
});

