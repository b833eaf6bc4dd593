import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../core/log.js';
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

/** A logger whose lines are kept, to see which sessions an engine opened. */
function recordingLogger(): { logger: ReturnType<typeof createLogger>; messages: () => string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), messages: () => lines.map((line) => (JSON.parse(line) as { msg: string }).msg) };
}

const nextTurn = () => new Promise((resolve) => setTimeout(resolve, 20));
/** Waits (up to 5 s) for the solo session's log line. */
async function soloOpened(messages: () => string[]): Promise<void> {
  for (let waited = 0; !messages().includes('solo session created'); waited += 5) {
    if (waited > 5000) assert.fail('the solo session did not open');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
const x = { x: { type: 'float32' as const, dims: [1, 3], data: new Float32Array([1, -2, 3]) } };

test('solo runs: the wide session opens after the first run that was alone, and serves the runs that are alone', async () => {
  let alone = false;
  const { logger, messages } = recordingLogger();
  const engine = await withEngineDefaults({ intraOpThreads: 1, solo: { intraOpThreads: 2, alone: () => alone } }, () => Engine.load(model, { logger }));
  try {
    assert.equal(engine.config.intraOpThreads, 1);
    assert.equal(engine.config.soloIntraOpThreads, 2);
    await engine.run(x);
    await nextTurn();
    assert.ok(!messages().includes('solo session created'), 'not while every run shares the cores');
    alone = true;
    const { y: first } = await engine.run(x);
    await soloOpened(messages);
    assert.equal(messages().filter((message) => message === 'solo session created').length, 1);
    const { y: second } = await engine.run(x);
    await engine.run(x);
    await nextTurn();
    assert.equal(messages().filter((message) => message === 'solo session created').length, 1, 'opened once');
    // The same model answers the same on either session.
    assert.deepEqual([...(second!.data as Float32Array)], [...(first!.data as Float32Array)]);
    alone = false;
    assert.deepEqual([...((await engine.run(x)).y!.data as Float32Array)], [-1, 2, -3]);
  } finally {
    await engine.release();
  }
});

test('solo runs: none for an engine with its own thread count, or when the share is all the cores already; release before opening is safe', async () => {
  const solo = { intraOpThreads: 2, alone: () => true };
  const [own, full, released] = await withEngineDefaults({ intraOpThreads: 1, solo }, () =>
    Promise.all([Engine.load(model, { intraOpThreads: 1 }), withEngineDefaults({ intraOpThreads: 2, solo }, () => Engine.load(model)), Engine.load(model)]),
  );
  assert.deepEqual([own.config.soloIntraOpThreads, full.config.soloIntraOpThreads, released.config.soloIntraOpThreads], [0, 0, 2]);
  // The run asks for the solo session; the engine is released before it opens.
  await released.run(x);
  await released.release();
  await nextTurn();
  await Promise.all([own.release(), full.release()]);
});
