/**
 * Issue #11: a worker that cannot start says why in the response (the cause's first line), not
 * only in the log: "Failed to start workers for model X version: V: <cause>", never a stack.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { writeArchive } from '../../../src/archive/write.js';
import { DataType, encodeModel, makeModel, makeNode, makeValueInfo } from '../../../src/onnx/index.js';
import { call, startServer, type ServerUnderTest } from './harness.js';

let server: ServerUnderTest;
before(async () => {
  server = await startServer();
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

async function archive(name: string, handler: string, model: ReturnType<typeof makeModel>, config?: string): Promise<void> {
  await writeArchive({
    modelName: name,
    modelVersion: '1.0',
    handler,
    serializedFile: 'model.onnx',
    ...(config ? { configFile: 'model-config.yaml' } : {}),
    entries: [
      { name: 'model.onnx', source: { bytes: encodeModel(model) } },
      ...(config ? [{ name: 'model-config.yaml', source: { bytes: new TextEncoder().encode(config) } }] : []),
    ],
    exportPath: server.store,
    format: 'default',
    force: true,
  });
}

const relu = (opset: number, op = 'Relu', dims: (number | string)[] = [1, 3]) =>
  makeModel({ name: 'm', opset, nodes: [makeNode(op, ['x'], ['y'])], inputs: [makeValueInfo('x', DataType.FLOAT, dims)], outputs: [makeValueInfo('y', DataType.FLOAT, dims)] });

for (const [name, handler, model, config, cause] of [
  ['opset999', 'tensor', relu(999), undefined, /opset|Opset|version/],
  ['unknownop', 'tensor', relu(17, 'NoSuchOp'), undefined, /NoSuchOp/],
  ['dynamicsize', 'image_classifier', relu(17, 'Relu', [1, 3, 'h', 'w']), undefined, /dynamic size; set handler\.image\.size/],
  ['badisolation', 'tensor', relu(17), 'handler:\n  isolation: vm\n', /handler\.isolation: must be process or thread/],
] as const) {
  test(`${name}: the registration's error names the cause`, async () => {
    await archive(name, handler, model, config);
    const answer = await call(`${server.management}/models?url=${name}.mar&initial_workers=1&synchronous=true`, { method: 'POST' });
    assert.ok(answer.status >= 400, answer.text);
    assert.deepEqual(Object.keys(answer.body).sort(), ['code', 'message', 'type']);
    assert.match(answer.body.message, cause);
    assert.doesNotMatch(answer.body.message, /\n\s+at /, 'no stack in the message');
    if (name !== 'badisolation') assert.match(answer.body.message, new RegExp(`^Failed to start workers for model ${name} version: 1\\.0: `));
    // Nothing stays registered.
    assert.equal((await call(`${server.management}/models/${name}`)).status, 404);
  });
}
