import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';

const root = new URL('../../', import.meta.url).pathname;
const depcruise = join(root, 'node_modules', '.bin', 'depcruise');
const work = mkdtempSync(join(tmpdir(), 'kiln-layers-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Lays out a throwaway src/ tree with the project's real lint config and runs the rule on it. */
function cruise(name: string, files: Record<string, string>): { status: number | null; violations: { rule: string; from: string; to: string }[] } {
  const dir = join(work, name);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  copyFileSync(join(root, '.dependency-cruiser.cjs'), join(dir, '.dependency-cruiser.cjs'));
  copyFileSync(join(root, 'tsconfig.json'), join(dir, 'tsconfig.json'));
  // The default reporter sets the exit code (what `npm run lint` sees); JSON names each violation.
  const result = spawnSync(depcruise, ['src', '--config', '.dependency-cruiser.cjs'], { cwd: dir, encoding: 'utf8' });
  const json = spawnSync(depcruise, ['src', '--config', '.dependency-cruiser.cjs', '--output-type', 'json'], { cwd: dir, encoding: 'utf8' });
  const report = JSON.parse(json.stdout) as { summary: { violations: { rule: { name: string }; from: string; to: string }[] } };
  return {
    status: result.status,
    violations: report.summary.violations.map((v) => ({ rule: v.rule.name, from: v.from, to: v.to })),
  };
}

test('imports that point down the layers pass', () => {
  const result = cruise('clean', {
    'src/core/errors.ts': 'export const code = 1;\n',
    'src/onnx/graph.ts': "import { code } from '../core/errors.js';\nexport const graph = code;\n",
    'src/quantize/qdq.ts': "import { graph } from '../onnx/graph.js';\nexport const qdq = graph;\n",
    'src/cli/main.ts': "import { qdq } from '../quantize/qdq.js';\nexport const main = qdq;\n",
  });
  assert.deepEqual(result.violations, []);
  assert.equal(result.status, 0);
});

test('a lower layer importing a higher one, a same-layer import, a stray onnxruntime import and a cycle all fail the lint', () => {
  const result = cruise('violations', {
    'src/core/errors.ts': "import { graph } from '../onnx/graph.js';\nexport const code = graph;\n",
    'src/onnx/graph.ts': "import { engine } from '../runtime/engine.js';\nexport const graph = engine;\n",
    'src/runtime/engine.ts': "import { code } from '../core/errors.js';\nexport const engine = code;\n",
    'src/quantize/qdq.ts': "import * as ort from 'onnxruntime-node';\nexport const qdq = ort;\n",
    'src/server/routes.ts': "import { engine } from '../runtime/engine.js';\nexport const routes = engine;\n",
  });
  assert.notEqual(result.status, 0, 'depcruise must exit non-zero');
  const found = result.violations.map((v) => `${v.rule}: ${v.from} -> ${v.to}`);
  for (const expected of [
    'layer-core: src/core/errors.ts -> src/onnx/graph.ts',
    'layer-onnx: src/onnx/graph.ts -> src/runtime/engine.ts',
    'only-runtime-imports-onnxruntime: src/quantize/qdq.ts -> onnxruntime-node',
    'server-not-engine: src/server/routes.ts -> src/runtime/engine.ts',
  ]) {
    assert.ok(found.includes(expected), `missing ${expected} in:\n${found.join('\n')}`);
  }
  assert.ok(found.some((line) => line.startsWith('no-circular: ')), `no cycle reported in:\n${found.join('\n')}`);
});

test('optimize and serving share a layer: the offline pipeline and the model server never import each other', () => {
  const result = cruise('optimize-serving', {
    'src/core/errors.ts': 'export const code = 1;\n',
    'src/serving/registry.ts': "import { code } from '../core/errors.js';\nexport const registry = code;\n",
    'src/optimize/quantize.ts': "import { registry } from '../serving/registry.js';\nexport const pipeline = registry;\n",
    'src/cli/main.ts': "import { pipeline } from '../optimize/quantize.js';\nexport const main = pipeline;\n",
  });
  assert.notEqual(result.status, 0);
  assert.deepEqual(
    result.violations.map((v) => `${v.rule}: ${v.from} -> ${v.to}`),
    ['layer-optimize: src/optimize/quantize.ts -> src/serving/registry.ts'],
  );
});
