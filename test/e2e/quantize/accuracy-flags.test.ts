/**
 * `kiln quantize` with an accuracy target, as a user runs it: `--min-sqnr` on held-out `.npy`
 * data keeps the one fragile layer of a fixture float and says so, `--equalize` and
 * `--bias-correction` report what they changed, and every misuse of the flags is one clear line.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { seededRandom } from '../../../src/core/random.js';
import { encodeModel } from '../../../src/onnx/index.js';
import { buildFragileChain } from '../../fixtures/budget-models.js';
import { encodeNpy } from '../../fixtures/npy.js';

const KILN = new URL('../../../bin/kiln.mjs', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'kiln-quantize-accuracy-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const model = join(dir, 'fragile.onnx');
const calib = join(dir, 'calib');
const heldOut = join(dir, 'held-out');

function kiln(...args: string[]) {
  const result = spawnSync(process.execPath, [KILN, ...args], { encoding: 'utf8', env: { ...process.env, KILN_DEBUG: '' } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function writeNormalSamples(folder: string, count: number, seed: number): void {
  mkdirSync(folder);
  const random = seededRandom(seed);
  for (let index = 0; index < count; index++) {
    // Box–Muller: the fixture's weights were chosen for N(0, 1) inputs.
    const data = Float32Array.from({ length: 4 * 12 * 12 }, () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()));
    writeFileSync(join(folder, `x-${index}.npy`), encodeNpy('<f4', [1, 4, 12, 12], data));
  }
}

before(() => {
  writeFileSync(model, encodeModel(buildFragileChain()));
  writeNormalSamples(calib, 8, 1);
  writeNormalSamples(heldOut, 8, 1000);
});

describe('kiln quantize accuracy flags', () => {
  it('--min-sqnr keeps the fragile layer float and prints the budget, the float layers and the INT8 MAC share', () => {
    const output = join(dir, 'budget.onnx');
    const run = kiln('quantize', model, '-o', output, '--calib', calib, '--min-sqnr', '18', '--eval', heldOut, '--json');
    assert.equal(run.status, 0, run.stderr);
    const summary = JSON.parse(run.stdout) as { budget: { floatLayers: { name: string }[]; final: number; int8MacShare: number; budget: unknown } };
    assert.deepEqual(summary.budget.budget, { kind: 'min-metric', min: 18 });
    assert.deepEqual(summary.budget.floatLayers.map((layer) => layer.name), ['fragile']);
    assert.ok(summary.budget.final >= 18, `final ${summary.budget.final}`);
    assert.ok(summary.budget.int8MacShare > 0.5 && summary.budget.int8MacShare < 1);
    assert.ok(existsSync(output));
    const text = kiln('quantize', model, '-o', output, '--force', '--calib', calib, '--min-sqnr', '18', '--eval', heldOut);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^budget {7}output SQNR ≥ 18 dB: FP32 ∞ dB, fully INT8 [\d.]+ dB, this model [\d.]+ dB$/m);
    assert.match(text.stdout, /^float {8}1 layers kept float: fragile \(Conv\); [\d.]+% of MACs in INT8/m);
  });

  it('--equalize and --bias-correction say what they changed', () => {
    const run = kiln('quantize', model, '-o', join(dir, 'passes.onnx'), '--calib', calib, '--equalize', '--bias-correction');
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^passes {7}\d+ Conv pairs equalized, [1-9]\d* biases corrected$/m);
  });

  // Usage errors exit 2; a combination only the library can judge exits 1.
  const misuse: [string, string[], RegExp, number][] = [
    ['a budget without held-out data', ['--min-sqnr', '18'], /--min-sqnr needs --eval DIR/, 2],
    ['two budgets', ['--min-sqnr', '18', '--max-drop', '1', '--eval', heldOut], /give one budget/, 2],
    ['held-out data without a budget', ['--eval', heldOut], /--eval is the held-out data of a budget/, 2],
    ['a budget with bias correction', ['--min-sqnr', '18', '--eval', heldOut, '--bias-correction'], /bias correction cannot be combined with an accuracy budget/, 1],
    ['a negative drop', ['--max-drop', '-1', '--eval', heldOut], /--max-drop is a drop in percentage points/, 2],
  ];
  for (const [what, flags, pattern, status] of misuse) {
    it(`refuses ${what} in one line, writing nothing`, () => {
      const output = join(dir, 'refused.onnx');
      const run = kiln('quantize', model, '-o', output, '--calib', calib, ...flags);
      assert.equal(run.status, status, run.stderr);
      const lines = run.stderr.trim().split('\n');
      assert.equal(lines.length, 1, run.stderr);
      assert.match(lines[0]!, pattern);
      assert.equal(existsSync(output), false);
    });
  }
  it('kiln optimize --min-sqnr adds a "static + budget" rung that meets the floor the static rungs miss', () => {
    const outDir = join(dir, 'ladder');
    const run = kiln('optimize', model, '--data', heldOut, '--calib', calib, '--min-sqnr', '18', '--out-dir', outDir, '--iterations', '3', '--json');
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /static \+ budget \(SQNR ≥ 18 dB\)/);
    assert.ok(existsSync(join(outDir, 'fragile.static-budget.onnx')), 'the budget rung wrote its model');
  });

  it('refuses accuracy flags with --mode dynamic', () => {
    const run = kiln('quantize', model, '-o', join(dir, 'dyn.onnx'), '--mode', 'dynamic', '--equalize');
    assert.equal(run.status, 2);
    assert.match(run.stderr, /--equalize applies to static quantization, not --mode dynamic/);
  });
});
