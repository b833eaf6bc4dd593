/**
 * Checklist item 51 (spec torchserve-api.md §8a) against a real `kiln serve`: a workflow archive
 * built by `kiln archive-workflow` with two real models (`tensor` handler on one-op ONNX models)
 * and one handler function, registered, run, described, refused when invalid, and removed.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../../../src/cli/main.js';
import { writeUnaryTensorArchive, writeWorkflowFixture } from '../../fixtures/archives.js';
import { call, startServer, type ServerUnderTest } from './harness.js';

const SPEC = `models:
  max-batch-delay: 5
  timeout-ms: 5000
  neg:
    url: neg.mar
  relu:
    url: relu.mar
    batch-size: 2
dag:
  neg: [adapt]
  adapt: [relu]
`;

const TENSOR_REQUEST = JSON.stringify({ inputs: { x: { dims: [1, 3], data: [1, -2, 3] } } });

function assertError(result: { status: number; body: any }, status: number, type: string, message: string | RegExp): void {
  assert.equal(result.status, status, JSON.stringify(result.body));
  assert.deepEqual(Object.keys(result.body).sort(), ['code', 'message', 'type']);
  assert.equal(result.body.type, type);
  if (typeof message === 'string') assert.equal(result.body.message, message);
  else assert.match(result.body.message, message);
}

describe('workflows', () => {
  let server: ServerUnderTest;
  const register = (query: string) => call(`${server.management}/workflows?${query}`, { method: 'POST' });
  const modelNames = async () => (await call(`${server.management}/models`)).body.models.map((m: { modelName: string }) => m.modelName);

  before(async () => {
    server = await startServer();
    await writeUnaryTensorArchive(server.store, 'neg', 'Neg');
    await writeUnaryTensorArchive(server.store, 'relu', 'Relu');
    const specFile = join(server.root, 'spec.yaml');
    writeFileSync(specFile, SPEC);
    const lines: string[] = [];
    const io = { out: (text: string) => lines.push(text), err: (text: string) => lines.push(text), interactive: false };
    const handler = new URL('../../fixtures/handlers/workflow.ts', import.meta.url).pathname;
    const code = await runCli(['archive-workflow', '--workflow-name', 'w', '--spec-file', specFile, '--handler', handler, '--export-path', server.store], io);
    assert.equal(code, 0, lines.join('\n'));
    await writeWorkflowFixture(server.store, 'cycle', SPEC.replace('  adapt: [relu]\n', '  adapt: [relu]\n  relu: [adapt]\n'));
    await writeWorkflowFixture(server.store, 'stray', SPEC.replace('  adapt: [relu]\n', '  adapt: [relu]\n  relu: [shout]\n'));
    await writeWorkflowFixture(server.store, 'broken', SPEC.replace('url: relu.mar', 'url: missing.mar'));
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  test('51: register a .war (two models + one function node) → 200; its nodes are models w__<node>', async () => {
    const result = await register('url=w.war');
    assert.deepEqual([result.status, result.body], [200, { status: 'Workflow w has been registered and scaled successfully.' }]);
    assert.deepEqual(await modelNames(), ['w__adapt', 'w__neg', 'w__relu']);
    const relu = (await call(`${server.management}/models/w__relu`)).body[0];
    assert.deepEqual([relu.batchSize, relu.maxBatchDelay, relu.workers.length], [2, 5, 1]);
  });

  test('51: POST /wfpredict/w → the leaf node\'s output (neg → adapt → relu)', async () => {
    const result = await call(`${server.inference}/wfpredict/w`, { method: 'POST', body: TENSOR_REQUEST });
    assert.equal(result.status, 200, result.text);
    assert.equal(result.headers.get('content-type'), 'application/json');
    assert.deepEqual(result.body, { outputs: { y: { dims: [1, 3], type: 'float32', data: [0, 2, 0] } } });
    // A node's failure is the workflow's 500 (the body is not a tensor request: neg fails, twice).
    assertError(await call(`${server.inference}/wfpredict/w`, { method: 'POST', body: 'nonsense' }), 500, 'InternalServerException', /^Error executing neg after 2 attempt\(s\): /);
  });

  test('51: list and describe; workflow models stay out of snapshots', async () => {
    assert.deepEqual((await call(`${server.management}/workflows`)).body, { workflows: [{ workflowName: 'w', workflowUrl: 'w.war' }] });
    const described = await call(`${server.management}/workflows/w`);
    assert.deepEqual(described.body, [
      { workflowName: 'w', workflowUrl: 'w.war', minWorkers: 1, maxWorkers: 1, batchSize: 1, maxBatchDelay: 5, workflowDag: '{neg=[adapt], adapt=[relu]}' },
    ]);
    const snapshots = readdirSync(join(server.logs, 'config')).sort();
    assert.doesNotMatch(readFileSync(join(server.logs, 'config', snapshots.at(-1)!), 'utf8'), /w__/);
  });

  test('51: registering twice → 409; an unknown workflow → 404', async () => {
    assertError(await register('url=w.war'), 409, 'ConflictStatusException', 'Workflow w is already registered.');
    assertError(await call(`${server.management}/workflows/nope`), 404, 'WorkflowNotFoundException', 'Workflow not found: nope');
    assertError(await call(`${server.inference}/wfpredict/nope`, { method: 'POST', body: 'x' }), 404, 'WorkflowNotFoundException', 'Workflow not found: nope');
    assertError(await call(`${server.management}/workflows/nope`, { method: 'DELETE' }), 404, 'WorkflowNotFoundException', 'Workflow not found: nope');
  });

  test('51: a DAG with a cycle, or a node that is neither a model nor a handler function → 400; nothing registered', async () => {
    assertError(await register('url=cycle.war'), 400, 'InvalidDAGException', 'Invalid workflow specification: dag: it has a cycle (adapt → relu → adapt)');
    assertError(await register('url=stray.war'), 400, 'InvalidDAGException', /^Invalid workflow specification: dag: 'shout' is neither a model of the spec nor a function exported by the handler/);
    assert.deepEqual(await modelNames(), ['w__adapt', 'w__neg', 'w__relu']);
  });

  test('51: a node that fails to register rolls back the others → 500', async () => {
    assertError(
      await register('url=broken.war'),
      500,
      'WorkflowException',
      'Workflow broken has failed to register. Failures: [Workflow Node broken__relu failed to register. Details: Model not found at: missing.mar]',
    );
    assert.deepEqual(await modelNames(), ['w__adapt', 'w__neg', 'w__relu']);
  });

  test('51: DELETE /workflows/w → 200 and its models are gone', async () => {
    const result = await call(`${server.management}/workflows/w`, { method: 'DELETE' });
    assert.deepEqual([result.status, result.body], [200, { status: 'Workflow "w" unregistered' }]);
    assert.deepEqual(await modelNames(), []);
    assert.deepEqual((await call(`${server.management}/workflows`)).body, { workflows: [] });
    assert.equal((await call(`${server.inference}/wfpredict/w`, { method: 'POST', body: TENSOR_REQUEST })).status, 404);
  });
});
