import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildDag } from '../archive/workflow-spec.js';
import type { RequestInput } from '../handlers/types.js';
import { AttemptsFailed, nodeInput, runDag, withAttempts } from './workflow-dag.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('the start node gets the request; one parent → {body}; several → {parent: output} in declared order; leaves in order', async () => {
  const dag = buildDag([
    ['pre', ['m1', 'm2']],
    ['m2', ['agg', 'side']],
    ['m1', ['agg']],
  ]);
  const seen = new Map<string, RequestInput>();
  const leaves = await runDag(
    dag,
    { body: 'request' },
    async (node, input) => {
      seen.set(node, input);
      return { out: `${node}-out` };
    },
    (result) => result.out,
  );
  assert.deepEqual(seen.get('pre'), { body: 'request' });
  assert.deepEqual(seen.get('m1'), { body: 'pre-out' });
  assert.deepEqual(seen.get('agg'), { m2: 'm2-out', m1: 'm1-out' });
  assert.deepEqual(Object.keys(seen.get('agg')!), ['m2', 'm1']);
  assert.deepEqual(seen.get('side'), { body: 'm2-out' });
  assert.deepEqual([...leaves.keys()], ['agg', 'side']);
  assert.deepEqual(leaves.get('agg'), { out: 'agg-out' });
  assert.equal(seen.size, 5, 'every node ran once');
});

test('independent branches run at the same time; a child waits for all its parents', async () => {
  const dag = buildDag([
    ['a', ['slow', 'fast']],
    ['slow', ['join']],
    ['fast', ['join']],
  ]);
  const events: string[] = [];
  await runDag(
    dag,
    {},
    async (node) => {
      events.push(`start ${node}`);
      await sleep(node === 'slow' ? 40 : 5);
      events.push(`end ${node}`);
      return node;
    },
    (result) => result,
  );
  assert.deepEqual(events, ['start a', 'end a', 'start slow', 'start fast', 'end fast', 'end slow', 'start join', 'end join']);
});

test('the first failure rejects the run and no node starts after it', async () => {
  const dag = buildDag([
    ['a', ['bad', 'slow']],
    ['slow', ['after']],
    ['bad', ['after']],
  ]);
  const started: string[] = [];
  await assert.rejects(
    runDag(
      dag,
      {},
      async (node) => {
        started.push(node);
        if (node === 'bad') throw new Error('boom');
        await sleep(node === 'slow' ? 20 : 0);
        return node;
      },
      (result) => result,
    ),
    /boom/,
  );
  await sleep(40);
  assert.deepEqual(started.sort(), ['a', 'bad', 'slow']);
});

test('nodeInput follows TorchServe: body for one parent, parent names for several', () => {
  const dag = buildDag([
    ['s', ['x', 'y']],
    ['x', ['z']],
    ['y', ['z']],
  ]);
  const outputs = new Map<string, unknown>([['s', 1], ['x', 2], ['y', 3]]);
  assert.deepEqual(nodeInput(dag, 's', { data: 0 }, outputs), { data: 0 });
  assert.deepEqual(nodeInput(dag, 'x', { data: 0 }, outputs), { body: 1 });
  assert.deepEqual(nodeInput(dag, 'z', { data: 0 }, outputs), { x: 2, y: 3 });
});

test('withAttempts: 1 + retryAttempts tries, a timeout counts as a failure, final errors are not retried', async () => {
  let calls = 0;
  const flaky = () => (++calls < 3 ? Promise.reject(new Error(`fail ${calls}`)) : Promise.resolve('ok'));
  assert.equal(await withAttempts(flaky, { retryAttempts: 2, timeoutMs: 1000 }), 'ok');
  assert.equal(calls, 3);

  calls = 0;
  await assert.rejects(withAttempts(flaky, { retryAttempts: 1, timeoutMs: 1000 }), (error: AttemptsFailed) => {
    assert.equal(error.attempts, 2);
    assert.equal(error.message, 'fail 2');
    return true;
  });

  let slowCalls = 0;
  const started = performance.now();
  await assert.rejects(
    withAttempts(() => (slowCalls++, sleep(150).then(() => 'late')), { retryAttempts: 1, timeoutMs: 20 }),
    (error: AttemptsFailed) => error.attempts === 2 && /no answer within 20 ms/.test(error.message),
  );
  assert.equal(slowCalls, 2);
  assert.ok(performance.now() - started < 120, 'timed-out attempts are abandoned, not awaited');

  calls = 0;
  const gone = new Error('gone');
  await assert.rejects(
    withAttempts(() => (calls++, Promise.reject(gone)), { retryAttempts: 5, timeoutMs: 1000 }, (error) => error === gone),
    (error: AttemptsFailed) => error.attempts === 1 && error.cause === gone,
  );
  assert.equal(calls, 1);
});
