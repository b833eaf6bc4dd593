import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { KilnError, type ErrorCode } from '../core/errors.js';
import { DataType, decodeModel, encodeModel, makeModel, makeNode, makeValueInfo } from '../onnx/index.js';
import { buildMobileNetV2 } from '../../test/fixtures/mobilenet-v2.js';
import { opFixtureByName } from '../../test/fixtures/ops.js';
import { Engine, availableProviders } from './engine.js';
import { makeFeeds } from './feeds.js';
import type { HostTensor } from './tensors.js';

const work = mkdtempSync(join(tmpdir(), 'kiln-engine-'));
const engines: Engine[] = [];
after(async () => {
  await Promise.all(engines.map((engine) => engine.release().catch(() => undefined)));
  rmSync(work, { recursive: true, force: true });
});

/** Loads an engine that is released when the file's tests end. */
async function load(...args: Parameters<typeof Engine.load>): Promise<Engine> {
  const engine = await Engine.load(...args);
  engines.push(engine);
  return engine;
}

function rejectsWith(code: ErrorCode, ...patterns: RegExp[]): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof KilnError, `expected a KilnError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  };
}

function maxAbsDiff(a: HostTensor, b: HostTensor): number {
  assert.deepEqual(a.dims, b.dims);
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  assert.equal(x.length, y.length);
  let worst = 0;
  for (let index = 0; index < x.length; index++) worst = Math.max(worst, Math.abs(x[index]! - y[index]!));
  return worst;
}

/**
 * x float32 [batch, 3] -> Relu -> relu, x -> Neg -> neg; idx int64 [2] -> Identity -> idx_out.
 * Two float outputs for `outputNames`, a symbolic dim, a fixed dim and a second element type.
 */
const tinyBytes = encodeModel(
  makeModel({
    name: 'tiny',
    nodes: [makeNode('Relu', ['x'], ['relu']), makeNode('Neg', ['x'], ['neg']), makeNode('Identity', ['idx'], ['idx_out'])],
    inputs: [makeValueInfo('x', DataType.FLOAT, ['batch', 3]), makeValueInfo('idx', DataType.INT64, [2])],
    outputs: [
      makeValueInfo('relu', DataType.FLOAT, ['batch', 3]),
      makeValueInfo('neg', DataType.FLOAT, ['batch', 3]),
      makeValueInfo('idx_out', DataType.INT64, [2]),
    ],
  }),
);

const x: HostTensor = { type: 'float32', dims: [2, 3], data: Float32Array.of(-1.5, 0, 2, 3.25, -0.5, 1) };
const idx: HostTensor = { type: 'int64', dims: [2], data: BigInt64Array.of(7n, -3n) };

let mobileNetBytes: Uint8Array | undefined;
/** The full-size MobileNetV2 fixture, built once for the tests that need it. */
function mobileNet(): Uint8Array {
  mobileNetBytes ??= encodeModel(buildMobileNetV2());
  return mobileNetBytes;
}

const hasCuda = availableProviders().includes('cuda');

describe('Engine.load', () => {
  it('loads from bytes and reports the signature, symbolic dims kept as names', async () => {
    const engine = await load(tinyBytes);
    assert.equal(engine.label, 'model');
    assert.deepEqual(engine.inputs, [
      { name: 'x', type: 'float32', shape: ['batch', 3] },
      { name: 'idx', type: 'int64', shape: [2] },
    ]);
    assert.deepEqual(engine.outputs, [
      { name: 'relu', type: 'float32', shape: ['batch', 3] },
      { name: 'neg', type: 'float32', shape: ['batch', 3] },
      { name: 'idx_out', type: 'int64', shape: [2] },
    ]);
  });

  it('loads from a path, labelled by that path', async () => {
    const path = join(work, 'tiny.onnx');
    writeFileSync(path, tinyBytes);
    const engine = await load(path);
    assert.equal(engine.label, path);
    assert.equal(engine.config.label, path);
    assert.deepEqual(
      engine.inputs.map((input) => input.name),
      ['x', 'idx'],
    );
    const outputs = await engine.run({ x, idx });
    assert.deepEqual([...(outputs['neg']!.data as Float32Array)], [1.5, -0, -2, -3.25, 0.5, -1]);
  });

  it('reports the resolved defaults in config', async () => {
    const engine = await load(tinyBytes);
    assert.deepEqual(engine.config, {
      intraOpThreads: 0,
      interOpThreads: 0,
      graphOptimizationLevel: 'all',
      providers: ['cpu'],
      optimizedModelPath: undefined,
      sessionConfig: {},
      soloIntraOpThreads: 0,
      label: 'model',
    });
  });

  it('reports the options it was given in config', async () => {
    const engine = await load(tinyBytes, { intraOpThreads: 1, graphOptimizationLevel: 'basic', label: 'tiny' });
    assert.equal(engine.config.intraOpThreads, 1);
    assert.equal(engine.config.graphOptimizationLevel, 'basic');
    assert.equal(engine.config.label, 'tiny');
    assert.equal(engine.label, 'tiny');
  });

  it('reports an unknown dim as undefined, not as a name', async () => {
    const model = makeModel({
      name: 'unknown-dim',
      nodes: [makeNode('Relu', ['x'], ['y'])],
      inputs: [makeValueInfo('x', DataType.FLOAT, [undefined, 'n', 2])],
      outputs: [makeValueInfo('y', DataType.FLOAT, [undefined, 'n', 2])],
    });
    const engine = await load(encodeModel(model));
    assert.deepEqual(engine.inputs[0]!.shape, [undefined, 'n', 2]);
  });

  it('turns an op onnxruntime does not know into KILN_RUNTIME_SESSION_FAILED with the cause and the op name', async () => {
    const model = makeModel({
      name: 'bad',
      nodes: [makeNode('NoSuchOperatorHere', ['x'], ['y'])],
      inputs: [makeValueInfo('x', DataType.FLOAT, [1])],
      outputs: [makeValueInfo('y', DataType.FLOAT, [1])],
    });
    await assert.rejects(Engine.load(encodeModel(model), { label: 'bad.onnx' }), (error) => {
      rejectsWith('KILN_RUNTIME_SESSION_FAILED', /^bad\.onnx: /, /NoSuchOperatorHere/)(error);
      assert.ok((error as KilnError).cause instanceof Error, 'the onnxruntime error is kept as cause');
      assert.equal((error as KilnError).kind, 'invalid_arg');
      return true;
    });
  });

  it('turns bytes that are not a model into KILN_RUNTIME_SESSION_FAILED', async () => {
    const garbage = Uint8Array.from({ length: 64 }, (_, index) => (index * 37 + 11) & 0xff);
    await assert.rejects(Engine.load(garbage), (error) => {
      rejectsWith('KILN_RUNTIME_SESSION_FAILED', /^model: onnxruntime cannot load the model/)(error);
      assert.notEqual((error as KilnError).cause, undefined);
      return true;
    });
  });

  it('turns a missing path into KILN_RUNTIME_SESSION_FAILED naming the path', async () => {
    const path = join(work, 'no-such-model.onnx');
    await assert.rejects(Engine.load(path), rejectsWith('KILN_RUNTIME_SESSION_FAILED', new RegExp(`^${path.replace(/[.]/g, '\\.')}: `)));
  });

  it('writes the optimized model to optimizedModelPath, and it decodes', async () => {
    const path = join(work, 'mobilenet.optimized.onnx');
    const engine = await load(mobileNet(), { intraOpThreads: 1, optimizedModelPath: path });
    assert.equal(engine.config.optimizedModelPath, path);
    assert.ok(existsSync(path), 'the optimized model file exists');
    const original = decodeModel(mobileNet());
    const optimized = decodeModel(readFileSync(path), path);
    const opTypes = (model: typeof original) => new Set(model.graph!.node.map((node) => node.opType));
    assert.ok(opTypes(original).has('BatchNormalization'));
    assert.ok(optimized.graph!.node.length > 0);
    // Conv + BatchNormalization fusion is a basic-level rewrite: none may survive at 'all'.
    assert.ok(!opTypes(optimized).has('BatchNormalization'), `optimized ops: ${[...opTypes(optimized)].join(', ')}`);
    assert.ok(optimized.graph!.node.length < original.graph!.node.length);
  });

  it('gives the same MobileNetV2 outputs with optimizations disabled and all', async () => {
    const bytes = mobileNet();
    const plain = await load(bytes, { intraOpThreads: 1, graphOptimizationLevel: 'disabled' });
    const optimized = await load(bytes, { intraOpThreads: 1, graphOptimizationLevel: 'all' });
    const feeds = makeFeeds(plain.inputs, { batch: 1, seed: 3 });
    const a = (await plain.run(feeds))['logits']!;
    const b = (await optimized.run(feeds))['logits']!;
    assert.deepEqual(a.dims, [1, 1000]);
    assert.ok(Array.from(a.data as Float32Array).every(Number.isFinite));
    // Fused Conv+BN reorders float sums: ~5e-6 seen here on logits of ~1.6. 1e-4 relative to the
    // largest logit leaves room for other SIMD paths and still catches a wrong fusion (errors ~1e-1).
    const scale = Math.max(...Array.from(a.data as Float32Array, Math.abs));
    const diff = maxAbsDiff(a, b);
    assert.ok(diff <= 1e-4 * scale, `max abs diff ${diff} (largest logit ${scale})`);
  });
});

describe('Engine.run', () => {
  it('computes Add on the add fixture exactly', async () => {
    const engine = await load(encodeModel(opFixtureByName('add').build()));
    const feeds = makeFeeds(engine.inputs, { seed: 5 });
    const outputs = await engine.run(feeds);
    assert.deepEqual(Object.keys(outputs), ['output']);
    const output = outputs['output']!;
    assert.equal(output.type, 'float32');
    assert.deepEqual(output.dims, [1, 3, 8, 8]);
    const left = feeds['input']!.data as Float32Array;
    const right = feeds['residual']!.data as Float32Array;
    const expected = left.map((value, index) => value + right[index]!);
    assert.deepEqual(output.data, expected);
  });

  it('computes every output of the tiny model by hand', async () => {
    const engine = await load(tinyBytes);
    const outputs = await engine.run({ x, idx });
    assert.deepEqual(Object.keys(outputs).sort(), ['idx_out', 'neg', 'relu']);
    assert.deepEqual(outputs['relu'], { type: 'float32', dims: [2, 3], data: Float32Array.of(0, 0, 2, 3.25, 0, 1) });
    assert.deepEqual(outputs['idx_out'], { type: 'int64', dims: [2], data: BigInt64Array.of(7n, -3n) });
  });

  it('returns only the outputs named in outputNames', async () => {
    const engine = await load(tinyBytes);
    const outputs = await engine.run({ x, idx }, ['neg']);
    assert.deepEqual(Object.keys(outputs), ['neg']);
    assert.deepEqual([...(outputs['neg']!.data as Float32Array)], [1.5, -0, -2, -3.25, 0.5, -1]);
  });

  describe('checks feeds against the signature', () => {
    const label = 'tiny.onnx';
    const cases: [string, Record<string, HostTensor>, RegExp][] = [
      ['a missing input', { x }, /missing input 'idx'/],
      ['an unknown input', { x, idx, extra: idx }, /unknown input 'extra'/],
      [
        'a wrong element type',
        { x: { type: 'float64', dims: [2, 3], data: new Float64Array(6) }, idx },
        /input 'x' is float64, the model wants float32/,
      ],
      ['a wrong rank', { x: { type: 'float32', dims: [6], data: new Float32Array(6) }, idx }, /input 'x' has shape \[6\], the model wants rank 2/],
      [
        'a wrong fixed dim',
        { x: { type: 'float32', dims: [2, 4], data: new Float32Array(8) }, idx },
        /input 'x' has 4 at axis 1, the model wants 3/,
      ],
    ];
    for (const [what, feeds, pattern] of cases) {
      it(`rejects ${what} with KILN_RUNTIME_INPUT_INVALID and the model label`, async () => {
        const engine = await load(tinyBytes, { label });
        await assert.rejects(engine.run(feeds), (error) => {
          rejectsWith('KILN_RUNTIME_INPUT_INVALID', /^tiny\.onnx: /, pattern)(error);
          assert.equal((error as KilnError).details['model'], label);
          return true;
        });
      });
    }

    it(
      'rejects data that does not fill the dims, or of the wrong array class, as KILN_RUNTIME_INPUT_INVALID',
      async () => {
        const engine = await load(tinyBytes, { label });
        const short = { x: { type: 'float32', dims: [2, 3], data: new Float32Array(5) }, idx } as const;
        await assert.rejects(engine.run(short), rejectsWith('KILN_RUNTIME_INPUT_INVALID', /^tiny\.onnx: /, /'x'/));
        const wrongClass = { x: { type: 'float32', dims: [2, 3], data: new Float64Array(6) }, idx } as const;
        await assert.rejects(engine.run(wrongClass), rejectsWith('KILN_RUNTIME_INPUT_INVALID', /^tiny\.onnx: /, /'x'/));
      },
    );

    it('accepts any size on a symbolic dim', async () => {
      const engine = await load(tinyBytes);
      const outputs = await engine.run({ x: { type: 'float32', dims: [5, 3], data: new Float32Array(15).fill(-2) }, idx });
      assert.deepEqual(outputs['relu']!.dims, [5, 3]);
      assert.deepEqual(outputs['neg']!.data, new Float32Array(15).fill(2));
    });
  });

  it('warms up without error and still runs afterwards', async () => {
    const engine = await load(tinyBytes);
    await engine.warmUp({ x, idx }, 3);
    const outputs = await engine.run({ x, idx }, ['relu']);
    assert.equal((outputs['relu']!.data as Float32Array)[3], 3.25);
  });

  it('rejects warmUp with bad feeds', async () => {
    const engine = await load(tinyBytes);
    await assert.rejects(engine.warmUp({ x }), rejectsWith('KILN_RUNTIME_INPUT_INVALID', /missing input 'idx'/));
  });

  it('rejects run after release', async () => {
    const engine = await Engine.load(tinyBytes);
    await engine.run({ x, idx });
    await engine.release();
    await assert.rejects(engine.run({ x, idx }), rejectsWith('KILN_RUNTIME_RUN_FAILED', /^model: /));
  });
});

describe('execution providers', () => {
  it('always lists cpu', () => {
    assert.ok(availableProviders().includes('cpu'));
  });

  it(
    'refuses cuda with KILN_RUNTIME_PROVIDER_UNAVAILABLE where it is missing',
    { skip: hasCuda ? 'CUDA is available on this machine' : false },
    async () => {
      await assert.rejects(
        Engine.load(tinyBytes, { providers: ['cuda'], label: 'tiny.onnx' }),
        (error) => {
          rejectsWith('KILN_RUNTIME_PROVIDER_UNAVAILABLE', /^tiny\.onnx: /, /cuda/)(error);
          assert.deepEqual((error as KilnError).details['missing'], ['cuda']);
          assert.equal((error as KilnError).kind, 'unavailable');
          return true;
        },
      );
    },
  );

  it('runs MobileNetV2 on cuda within 1e-3 of cpu', { skip: hasCuda ? false : 'CUDA is not available on this machine' }, async () => {
    const bytes = mobileNet();
    const cpu = await load(bytes, { intraOpThreads: 1 });
    const cuda = await load(bytes, { providers: ['cuda'] });
    assert.deepEqual(cuda.config.providers, ['cuda']);
    const feeds = makeFeeds(cpu.inputs, { batch: 1, seed: 4 });
    const diff = maxAbsDiff((await cpu.run(feeds))['logits']!, (await cuda.run(feeds))['logits']!);
    assert.ok(diff <= 1e-3, `max abs diff ${diff}`);
  });
});
