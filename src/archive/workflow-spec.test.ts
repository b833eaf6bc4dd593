import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildDag, formatWorkflowDag, parseWorkflowSpec, WORKFLOW_DEFAULTS } from './workflow-spec.js';

/** Asserts that `text` is refused as an invalid spec whose message matches `reason`. */
function refused(text: string, reason: RegExp): void {
  assert.throws(
    () => parseWorkflowSpec(text, 'spec.yaml'),
    (error: Error & { code?: string }) => {
      assert.equal(error.code, 'KILN_SERVE_WORKFLOW_INVALID');
      assert.match(error.message, /^Invalid workflow specification: /);
      assert.match(error.message, reason);
      return true;
    },
  );
}

test('TorchServe defaults, models-level settings for every model (in any order), per-model overrides', () => {
  const spec = parseWorkflowSpec(`models:
  m1:
    url: one.mar
    max-workers: 3
    batch-size: 4
  retry-attempts: 2
  timeout-ms: 500
  m2:
    url: two.mar
dag:
  m1: [m2]
`);
  assert.deepEqual(spec.defaults, { ...WORKFLOW_DEFAULTS, retryAttempts: 2, timeoutMs: 500 });
  assert.deepEqual(spec.models.get('m1'), { url: 'one.mar', minWorkers: 1, maxWorkers: 3, batchSize: 4, maxBatchDelay: 50, retryAttempts: 2, timeoutMs: 500 });
  assert.deepEqual(spec.models.get('m2'), { url: 'two.mar', ...WORKFLOW_DEFAULTS, retryAttempts: 2, timeoutMs: 500 });
  assert.deepEqual(WORKFLOW_DEFAULTS, { minWorkers: 1, maxWorkers: 1, batchSize: 1, maxBatchDelay: 50, retryAttempts: 1, timeoutMs: 10_000 });
  assert.ok(Object.isFrozen(spec) && Object.isFrozen(spec.models.get('m1')) && Object.isFrozen(spec.dag.order));
});

test('the DAG: one start, parents before children, parents in declared order, leaves; blank entries and duplicate edges ignored', () => {
  const spec = parseWorkflowSpec(`dag:
  pre: [m1, m2, '', m1]
  m2: [agg]
  m1: [agg]
  agg: [post, log]
  log:
`);
  const { dag } = spec;
  assert.equal(dag.start, 'pre');
  assert.deepEqual(dag.order, ['pre', 'm1', 'm2', 'agg', 'post', 'log']);
  assert.deepEqual(dag.parents.get('agg'), ['m2', 'm1']);
  assert.deepEqual(dag.children.get('pre'), ['m1', 'm2']);
  assert.deepEqual(dag.leaves, ['post', 'log']);
  assert.equal(spec.models.size, 0, 'no models: every node is a function');
  assert.equal(formatWorkflowDag(dag), '{pre=[m1, m2, m1], m2=[agg], m1=[agg], agg=[post, log], log=[]}');
});

test('several start nodes, none, a self loop and a cycle → invalid, naming the nodes', () => {
  refused('dag:\n  a: [c]\n  b: [c]\n', /exactly one start node .* found 2: a, b$/);
  refused('dag:\n  a: [b]\n  b: [a]\n', /found none: it has a cycle \((a → b → a|b → a → b)\)$/);
  refused('dag:\n  a: [a]\n', /node 'a' feeds itself/);
  refused('dag:\n  s: [a]\n  a: [b]\n  b: [c]\n  c: [a, d]\n', /it has a cycle \(a → b → c → a\)$/);
  refused('dag: {}\n', /found none$/);
});

test('bad keys, types and values → invalid, with where', () => {
  refused('models:\n  m: {url: m.mar}\n', /dag: /);
  refused('dag:\n  a: [b]\nextra: 1\n', /extra/);
  refused('models:\n  m: {url: m.mar, workers: 2}\ndag:\n  m: [f]\n', /models\.m: .*workers/);
  refused('models:\n  m: {batch-size: 2}\ndag:\n  m: [f]\n', /models\.m\.url/);
  refused('models:\n  batch-size: 0\ndag:\n  a: [b]\n', /models\.batch-size/);
  refused('models:\n  max-workers: 1\n  m: {url: m.mar, min-workers: 2}\ndag:\n  m: [f]\n', /max-workers \(1\) is less than min-workers \(2\)/);
  refused('dag:\n  a: b\n', /dag\.a/);
  refused('dag:\n  a: [b/c]\n', /dag\.a: a node name must match/);
  refused('dag:\n  a: [__proto__]\n', /a node name must match/);
  refused('models:\n  __proto__: {url: x.mar}\ndag:\n  a: [b]\n', /__proto__ is not allowed/);
});

test('YAML is data only: a code tag or a syntax error → invalid, nothing constructed', () => {
  refused('dag: !!js/function "function () { process.exit(3) }"\n', /spec\.yaml: not plain YAML data/);
  refused('dag:\n  a: [b\n', /spec\.yaml: not plain YAML data/);
});

test('buildDag alone: a single node is its own start and leaf', () => {
  const dag = buildDag([['only', []]]);
  assert.deepEqual([dag.start, dag.order, dag.leaves], ['only', ['only'], ['only']]);
});
