import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeModel, makeNode, makeValueInfo } from '../onnx/build.js';
import { DataType } from '../onnx/dtype.js';
import { encodeModel } from '../onnx/model-io.js';
import { Engine } from './engine.js';
import { IDENTITY_MODEL, warmUpOnnxRuntime } from './warm-up.js';

test('the warm-up model is the Identity model onnx/build makes, and onnxruntime runs it', async () => {
  const built = makeModel({ name: 'kiln-warm-up', nodes: [makeNode('Identity', ['x'], ['y'])], inputs: [makeValueInfo('x', DataType.FLOAT, [1])], outputs: [makeValueInfo('y', DataType.FLOAT, [1])] });
  assert.deepEqual(Buffer.from(IDENTITY_MODEL), Buffer.from(encodeModel(built)));
  const engine = await Engine.load(IDENTITY_MODEL, { intraOpThreads: 1 });
  try {
    const { y } = await engine.run({ x: { type: 'float32', dims: [1], data: new Float32Array([2.5]) } });
    assert.deepEqual([...(y!.data as Float32Array)], [2.5]);
  } finally {
    await engine.release();
  }
  await warmUpOnnxRuntime();
});
