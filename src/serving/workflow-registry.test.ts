import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeWorkflowArchive } from '../archive/workflow-archive.js';
import { silentLogger } from '../core/log.js';
import { ModelRegistry } from './registry.js';
import { SERVING_DEFAULTS } from './settings.js';
import { takeSnapshot } from './snapshot.js';
import { WorkflowRegistry } from './workflow-registry.js';

// Function nodes only, so no model has to load: a plain CommonJS handler (what esbuild emits).
const HANDLER = `
const text = (value) => new TextDecoder().decode(value);
let inits = 0;
let flakyCalls = 0;
exports.pre = (data) => data && data.map((r) => 'pre(' + text(r.body) + ')');
exports.a = (data) => data && data.map((r) => 'a(' + text(r.body) + ')');
exports.b = (data) => data && data.map((r) => 'b(' + text(r.body) + ')');
exports.join = (data) => data && data.map((r) => ({ parents: Object.keys(r), a: text(r.a), b: text(r.b) }));
exports.tail = (data) => data && data.map((r) => 'tail(' + text(r.body) + ')');
exports.flaky = (data) => { if (!data) return; if (++flakyCalls % 2 === 1) throw new Error('odd call'); return data.map(() => 'ok after ' + flakyCalls); };
exports.report = (data) => { if (!data) { inits++; return; } return data.map((r) => text(r.body) + ' / inits ' + inits); };
exports.notAFunction = 42;
`;

const store = mkdtempSync(join(tmpdir(), 'kiln-workflows-'));
const models = new ModelRegistry({
  store: { modelStore: store, allowedUrls: [] },
  defaults: { ...SERVING_DEFAULTS, workers: 0 },
  logger: silentLogger(),
  isolation: { mode: 'in-process', maxMemoryMiB: 4096 },
});
const workflows = new WorkflowRegistry({ models, store: { modelStore: store, allowedUrls: [] }, logger: silentLogger() });

async function writeWar(name: string, spec: string, handlerName = 'handler.cjs'): Promise<void> {
  const bytes = (text: string) => ({ bytes: new TextEncoder().encode(text) });
  await writeWorkflowArchive({ workflowName: name, spec: { name: 'spec.yaml', source: bytes(spec) }, handler: { name: handlerName, source: bytes(HANDLER) }, exportPath: store, force: true });
}

const request = (text: string) => ({ input: { body: new TextEncoder().encode(text) }, headers: { explain: 'False' } });
const decode = (body: Uint8Array) => new TextDecoder().decode(body);

before(async () => {
  await writeWar('fan', 'dag:\n  pre: [a, b]\n  b: [join, tail]\n  a: [join]\n');
  await writeWar('retry', 'models:\n  retry-attempts: 1\ndag:\n  flaky: [report]\n');
  await writeWar('py', 'dag:\n  pre: [a]\n', 'workflow.py');
  await writeWar('typo', 'dag:\n  pre: [notAFunction, nope]\n');
});
after(async () => {
  await workflows.close();
  await models.close();
  rmSync(store, { recursive: true, force: true });
});

test('fan-out and fan-in: a node with two parents gets {parent: bytes}; several leaves merge into one JSON object', async () => {
  assert.equal(await workflows.register({ url: 'fan.war' }), 'fan');
  const response = await workflows.predict('fan', request('x'));
  assert.deepEqual(JSON.parse(decode(response.body)), {
    join: { parents: ['b', 'a'], a: 'a(pre(x))', b: 'b(pre(x))' },
    tail: 'tail(b(pre(x)))',
  });
  assert.deepEqual([...models.entries()].map((e) => e.name).sort(), ['fan__a', 'fan__b', 'fan__join', 'fan__pre', 'fan__tail']);
  assert.equal(takeSnapshot(models, 'snapshot').modelCount, 0, 'workflow models are not snapshotted');
});

test('a failed node is retried (retry-attempts); function nodes were initialized once with null', async () => {
  assert.equal(await workflows.register({ url: 'retry.war', workflowName: 'again' }), 'again');
  assert.ok([...models.entries()].some((e) => e.name === 'again__flaky'), 'models take the workflow_name given');
  // flaky fails on its first call and answers on the second; report was initialized once, with null.
  assert.equal(decode((await workflows.predict('again', request('x'))).body), 'ok after 2 / inits 1');
  await assert.rejects(workflows.register({ url: 'retry.war', workflowName: 'again' }), (error: Error & { code?: string }) => error.code === 'KILN_SERVE_WORKFLOW_EXISTS');
});

test('function nodes need a TypeScript handler exporting them: a Python handler or a missing function is refused before anything registers', async () => {
  const before = [...models.entries()].length;
  await assert.rejects(workflows.register({ url: 'py.war' }), (error: Error & { code?: string }) => error.code === 'KILN_ARCHIVE_UNSUPPORTED' && /Python handler 'workflow\.py'/.test(error.message));
  await assert.rejects(workflows.register({ url: 'typo.war' }), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'KILN_SERVE_WORKFLOW_INVALID');
    assert.match(error.message, /'notAFunction', 'nope' are neither a model of the spec nor a function exported by the handler handler\.cjs$/);
    return true;
  });
  assert.equal([...models.entries()].length, before);
});

test('unregister removes the workflow and its models; describe and predict then say 404', async () => {
  await workflows.unregister('fan');
  assert.ok(![...models.entries()].some((e) => e.name.startsWith('fan__')));
  for (const call of [() => workflows.describe('fan'), () => workflows.predict('fan', request('x'))]) {
    await assert.rejects(async () => call(), (error: Error & { code?: string }) => error.code === 'KILN_SERVE_WORKFLOW_NOT_FOUND' && error.message === 'Workflow not found: fan');
  }
  assert.deepEqual(workflows.list(100, 0), { workflows: [{ workflowName: 'again', workflowUrl: 'retry.war' }] });
});
