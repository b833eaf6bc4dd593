import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { encodeModel, readModel, writeModel } from '../../src/onnx/index.js';
import { Engine, makeFeeds, type HostTensor } from '../../src/runtime/index.js';
import { buildMobileNetV2 } from '../fixtures/mobilenet-v2.js';
import { OP_FIXTURES } from '../fixtures/ops.js';
import { PP_OCR } from './models.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-roundtrip-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a model (path or bytes) on seeded feeds; returns outputs by name. */
async function run(model: string | Uint8Array, shapes?: Record<string, readonly number[]>): Promise<Record<string, HostTensor>> {
  const engine = await Engine.load(model, { intraOpThreads: 1 });
  try {
    return await engine.run(makeFeeds(engine.inputs, { seed: 7, dims: { '*': 2 }, ...(shapes ? { shapes } : {}) }));
  } finally {
    await engine.release();
  }
}

function assertBitIdentical(actual: Record<string, HostTensor>, expected: Record<string, HostTensor>): void {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort());
  for (const [name, tensor] of Object.entries(expected)) {
    const other = actual[name]!;
    assert.deepEqual(other.dims, tensor.dims, `${name} dims`);
    const a = other.data as Float32Array;
    const b = tensor.data as Float32Array;
    assert.equal(Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)), 0, `${name} differs`);
  }
}

for (const model of PP_OCR) {
  test(`PP-OCR ${model.id}: read → write gives the same bytes and bit-identical ORT outputs`, async () => {
    const original = readFileSync(model.path);
    const { model: decoded } = readModel(model.path);
    const out = join(dir, `${model.id}.onnx`);
    const written = writeModel(decoded, out);
    assert.equal(written.externalFile, undefined);
    assert.equal(Buffer.compare(readFileSync(out), original), 0, 'serialized bytes differ from the original file');
    const shapes = { x: model.shape };
    assertBitIdentical(await run(out, shapes), await run(model.path, shapes));
  });
}

for (const fixture of [...OP_FIXTURES.map((op) => ({ name: op.name, build: () => op.build(3) })), { name: 'mobilenet-v2', build: () => buildMobileNetV2({ seed: 3 }) }]) {
  test(`fixture ${fixture.name}: write → read → write is byte-stable and ORT outputs are bit-identical`, async () => {
    const bytes = encodeModel(fixture.build());
    const path = join(dir, `${fixture.name}.onnx`);
    writeFileSync(path, bytes);
    writeModel(readModel(path).model, `${path}.again.onnx`);
    assert.equal(Buffer.compare(readFileSync(`${path}.again.onnx`), Buffer.from(bytes)), 0);
    assertBitIdentical(await run(`${path}.again.onnx`), await run(bytes));
  });
}
