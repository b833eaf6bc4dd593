/**
 * The contract every op quantizer must meet (spec §12.9): on a tiny model, onnxruntime loads
 * the quantized result, the node becomes the integer kernel its entry promises (or, for a
 * data-movement op, runs on 8-bit data), and outputs stay within 30 dB SQNR of float on random
 * inputs that were not used for calibration. Ops without an entry stay float.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqnrAccumulator } from '../../../src/evaluate/fidelity.js';
import { encodeModel, writeModel, type proto } from '../../../src/onnx/index.js';
import { Engine, makeFeeds } from '../../../src/runtime/index.js';
import type { CalibrationSource } from '../../../src/quantize/data/types.js';
import { checkFusion } from '../../../src/quantize/fusion-check.js';
import { OP_QUANTIZERS } from '../../../src/quantize/ops/op-table.js';
import { quantizeModel } from '../../../src/quantize/quantize-model.js';
import { OP_FIXTURES } from '../../fixtures/ops.js';
import { CONTRACT_FIXTURES } from '../../fixtures/quantize-ops.js';

const folder = mkdtempSync(join(tmpdir(), 'kiln-contract-'));
after(() => rmSync(folder, { recursive: true, force: true }));

/** Seeded uniform inputs for a model's signature: seeds 1..count. */
async function randomSource(model: proto.ModelProto, count: number, firstSeed = 1): Promise<CalibrationSource> {
  const engine = await Engine.load(encodeModel(model));
  const inputs = engine.inputs;
  await engine.release();
  return {
    description: `${count} random samples`,
    count,
    async *samples() {
      for (let seed = firstSeed; seed < firstSeed + count; seed++) yield makeFeeds(inputs, { seed });
    },
  };
}

async function outputSqnr(floatModel: proto.ModelProto, quantizedPath: string): Promise<number> {
  const reference = await Engine.load(encodeModel(floatModel));
  const quantized = await Engine.load(quantizedPath);
  const sqnr = new SqnrAccumulator();
  for (let seed = 1001; seed < 1005; seed++) {
    const feeds = makeFeeds(reference.inputs, { seed });
    const [expected, actual] = [await reference.run(feeds), await quantized.run(feeds)];
    for (const name of Object.keys(expected)) sqnr.add(expected[name]!.data as Float32Array, actual[name]!.data as Float32Array);
  }
  await reference.release();
  await quantized.release();
  return sqnr.db();
}

const fixtures = [
  ...OP_FIXTURES.map((fixture) => ({ name: fixture.name, opType: fixture.opType, build: () => fixture.build() })),
  ...CONTRACT_FIXTURES,
];

describe('op quantizer contract', () => {
  const entries = OP_QUANTIZERS.flatMap((entry) => entry.opTypes.map((opType) => ({ entry, opType })));

  it('has a fixture for every op type in the table', () => {
    const covered = new Set(fixtures.map((fixture) => fixture.opType));
    assert.deepEqual(entries.map(({ opType }) => opType).filter((opType) => !covered.has(opType)), []);
  });

  for (const { entry, opType } of entries) {
    // Data-movement ops join only an existing integer island, so they are tried behind a Conv.
    const candidates = entry.dataMovement ? CONTRACT_FIXTURES : fixtures;
    for (const fixture of candidates.filter((candidate) => candidate.opType === opType)) {
      it(`${opType}: ${fixture.name} fuses and keeps ≥ 30 dB`, async () => {
        const model = fixture.build();
        const { model: quantized, report } = await quantizeModel(model, await randomSource(model, 16));
        const path = join(folder, `${fixture.name}.onnx`);
        writeModel(quantized, path);
        const node = report.quantizedNodes.find((candidate) => candidate.name === fixture.name);
        assert.ok(node, `${fixture.name} was not quantized (skipped: ${JSON.stringify(report.skippedNodes)})`);
        const fusion = await checkFusion(path, [node]);
        const outcome = fusion.outcomes[0]!;
        assert.ok(outcome.fused, `${fixture.name} became ${outcome.became}, expected ${entry.fusedOps.join('|') || `${opType} on 8-bit data`}`);
        const db = await outputSqnr(model, path);
        assert.ok(db >= 30, `SQNR ${db.toFixed(1)} dB < 30`);
      });
    }
  }

  it('leaves an op without an entry in float (LayerNormalization)', async () => {
    const fixture = OP_FIXTURES.find((candidate) => candidate.opType === 'LayerNormalization')!;
    const model = fixture.build();
    const { model: quantized, report } = await quantizeModel(model, await randomSource(model, 4));
    assert.equal(report.quantizedNodes.length, 0);
    assert.ok(!quantized.graph!.node.some((node) => node.opType.endsWith('QuantizeLinear')));
    const path = join(folder, 'layer-norm.onnx');
    writeModel(quantized, path);
    assert.equal(await outputSqnr(model, path), Number.POSITIVE_INFINITY);
  });
});
