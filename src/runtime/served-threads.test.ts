import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataType, encodeModel, makeModel, makeNode, makeValueInfo } from '../onnx/index.js';
import { Engine } from './engine.js';
import { ALLOW_SPINNING, intraOpThreadsFor, withEngineDefaults } from './served-threads.js';

test('the sizing rule shares the cores among the workers, at least one thread each', () => {
  assert.equal(intraOpThreadsFor(2, 1), 2);
  assert.equal(intraOpThreadsFor(2, 2), 1);
  assert.equal(intraOpThreadsFor(2, 3), 1);
  assert.equal(intraOpThreadsFor(16, 3), 5);
  assert.equal(intraOpThreadsFor(8, 0), 8);
  assert.equal(intraOpThreadsFor(1, 4), 1);
});

const model = encodeModel(
  makeModel({ name: 'neg', nodes: [makeNode('Neg', ['x'], ['y'])], inputs: [makeValueInfo('x', DataType.FLOAT, [1, 3])], outputs: [makeValueInfo('y', DataType.FLOAT, [1, 3])] }),
);

test('engines loaded in a scope take its defaults, unless their own options say otherwise; outside it, onnxruntime picks', async () => {
  const defaults = { intraOpThreads: 3, sessionConfig: { [ALLOW_SPINNING]: '0' } };
  const engines = await withEngineDefaults(defaults, async () => {
    // Defaults hold across awaits, as a handler's initialize loads its sessions.
    await new Promise((resolve) => setTimeout(resolve, 1));
    return Promise.all([
      Engine.load(model),
      Engine.load(model, { intraOpThreads: 0 }),
      Engine.load(model, { intraOpThreads: 1, sessionConfig: { [ALLOW_SPINNING]: '1' } }),
    ]);
  });
  const outside = await Engine.load(model);
  try {
    assert.deepEqual(
      engines.map((engine) => [engine.config.intraOpThreads, engine.config.sessionConfig[ALLOW_SPINNING]]),
      [
        [3, '0'],
        [3, '0'],
        [1, '1'],
      ],
    );
    assert.equal(outside.config.intraOpThreads, 0);
    assert.deepEqual(outside.config.sessionConfig, {});
    // The session runs with what it was given.
    const { y } = await engines[0]!.run({ x: { type: 'float32', dims: [1, 3], data: new Float32Array([1, -2, 3]) } });
    assert.deepEqual([...(y!.data as Float32Array)], [-1, 2, -3]);
  } finally {
    await Promise.all([...engines, outside].map((engine) => engine.release()));
  }
});
