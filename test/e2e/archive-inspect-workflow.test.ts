/**
 * `kiln archive --inspect` on workflow archives, through the real binary: a `.war` written by
 * `kiln archive-workflow` is opened as the server opens it and its models, DAG and files listed;
 * a broken one is refused with one line on stderr.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeWorkflowArchive } from '../../src/archive/workflow-archive.js';

const KILN = new URL('../../bin/kiln.mjs', import.meta.url).pathname;
const root = new URL('../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'kiln-inspect-war-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function kiln(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [KILN, ...args], { encoding: 'utf8', cwd: root });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const SPEC = [
  'models:',
  '  min-workers: 2',
  '  max-workers: 3',
  '  neg:',
  '    url: neg.mar',
  '    batch-size: 4',
  '  relu:',
  '    url: relu.mar',
  '    timeout-ms: 500',
  'dag:',
  '  pre: [neg, relu]',
  '  neg: [post]',
  '  relu: [post]',
  '',
].join('\n');

let war = '';

before(() => {
  writeFileSync(join(dir, 'spec.yaml'), SPEC);
  writeFileSync(join(dir, 'handler.ts'), 'export const pre = (data: unknown) => data;\nexport const post = (data: unknown) => data;\n');
  const written = kiln('archive-workflow', '--workflow-name', 'fan', '--spec-file', join(dir, 'spec.yaml'), '--handler', join(dir, 'handler.ts'), '--export-path', dir);
  assert.equal(written.status, 0, written.stderr);
  war = join(dir, 'fan.war');
});

test('--inspect --json on a .war: manifest, models with their settings, the DAG and the files', () => {
  const result = kiln('archive', '--inspect', war, '--json');
  assert.equal(result.status, 0, result.stderr);
  const report = JSON.parse(result.stdout);
  assert.equal(report.kind, 'workflow');
  assert.equal(report.format, 'zip');
  assert.deepEqual(report.manifest.workflow, { workflowName: 'fan', specFile: 'spec.yaml', handler: 'handler.cjs' });
  assert.equal(report.manifest.runtime, 'typescript');
  // The `models:` level settings apply to both; each model's own keys win.
  assert.deepEqual(report.models.neg, { minWorkers: 2, maxWorkers: 3, batchSize: 4, maxBatchDelay: 50, retryAttempts: 1, timeoutMs: 10_000, url: 'neg.mar' });
  assert.equal(report.models.relu.timeoutMs, 500);
  assert.equal(report.models.relu.batchSize, 1);
  assert.deepEqual(report.dag, { start: 'pre', order: ['pre', 'neg', 'relu', 'post'], edges: { pre: ['neg', 'relu'], neg: ['post'], relu: ['post'] } });
  assert.deepEqual(
    report.files.map((file: { name: string }) => file.name).sort(),
    ['WAR-INF/MANIFEST.json', 'handler.cjs', 'spec.yaml'],
  );
  assert.ok(report.files.every((file: { bytes: number }) => file.bytes > 0));
});

test('--inspect on a .war prints the workflow, its DAG as TorchServe describes it, and a row per model', () => {
  const result = kiln('archive', '--inspect', war);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^workflow {2}fan, handler handler\.cjs, runtime typescript$/m);
  assert.match(result.stdout, /^spec {6}spec\.yaml: start pre, 4 nodes, 2 models$/m);
  assert.match(result.stdout, /^dag {7}\{pre=\[neg, relu\], neg=\[post\], relu=\[post\]\}$/m);
  assert.match(result.stdout, /neg\s+neg\.mar\s+2-3\s+4\s+50 ms\s+1\s+10000 ms/);
  assert.match(result.stdout, /relu\s+relu\.mar\s+2-3\s+1\s+50 ms\s+1\s+500 ms/);
});

test('--inspect on a .war whose DAG has a cycle: one line on stderr, exit 1', async () => {
  const cyclic = await writeWorkflowArchive({
    workflowName: 'loop',
    spec: { name: 'spec.yaml', source: { bytes: new TextEncoder().encode('dag:\n  a: [b]\n  b: [c]\n  c: [b]\n') } },
    handler: { name: 'handler.cjs', source: { bytes: new TextEncoder().encode('') } },
    exportPath: dir,
    force: true,
  });
  const result = kiln('archive', '--inspect', cyclic.path);
  assert.equal(result.status, 1);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /^kiln: Invalid workflow specification: .*cycle \(b → c → b\) \[KILN_SERVE_WORKFLOW_INVALID\]\n$/);
});

test('--inspect on a model archive named .war says it is not a workflow archive', () => {
  const path = join(dir, 'model.war');
  const archived = kiln('archive', '--model-name', 'm', '--handler', 'tensor', '--export-path', dir, '--force');
  assert.equal(archived.status, 0, archived.stderr);
  rmSync(path, { force: true });
  spawnSync('cp', [join(dir, 'm.mar'), path]);
  const result = kiln('archive', '--inspect', path);
  assert.equal(result.status, 1);
  assert.match(result.stderr, /^kiln: .*model\.war: not a workflow archive \(no WAR-INF\/MANIFEST\.json\) \[KILN_ARCHIVE_[A-Z_]+\]\n$/);
});
