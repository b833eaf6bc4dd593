import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { makeModel, makeNode, makeValueInfo } from '../build.js';
import { DataType } from '../dtype.js';
import { shallowCopy } from '../edit.js';
import { GraphProtoSchema, ModelProtoSchema, ValueInfoProtoSchema, type ModelProto } from '../gen/onnx_pb.js';
import { encodeTensor } from '../tensor.js';
import { buildMobileNetV2 } from '../../../test/fixtures/mobilenet-v2.js';
import { loadPpOcr, runModel, textFeeds, type PpOcrId } from '../../../test/fixtures/pass-harness.js';
import { inferShapes } from './infer-shapes.js';

const F = DataType.FLOAT;

/** The model with its input fixed to `shape` and every node output exposed as a graph output. */
function exposeAll(model: ModelProto, shape: readonly number[]): ModelProto {
  const graph = shallowCopy(GraphProtoSchema, model.graph!);
  graph.input = [makeValueInfo(graph.input[0]!.name, F, [...shape])];
  const names = graph.node.flatMap((node) => node.output.filter(Boolean));
  graph.output = names.map((name) => create(ValueInfoProtoSchema, { name }));
  const copy = shallowCopy(ModelProtoSchema, model);
  copy.graph = graph;
  return copy;
}

describe('inferShapes', () => {
  it('agrees with onnxruntime on every value it claims to know, in the PP-OCR models and MobileNetV2', async () => {
    const cases: [ModelProto, readonly number[], PpOcrId | undefined][] = [
      [loadPpOcr('rec'), [1, 3, 48, 320], 'rec'],
      [loadPpOcr('det'), [1, 3, 320, 320], 'det'],
      [buildMobileNetV2({ resolution: 32, numClasses: 4, widthMultiplier: 0.25 }), [1, 3, 32, 32], undefined],
    ];
    for (const [model, shape, id] of cases) {
      const exposed = exposeAll(model, shape);
      const shapes = inferShapes(exposed.graph!);
      const feeds = id ? await textFeeds(id) : { input: { type: 'float32' as const, dims: [...shape], data: new Float32Array(shape.reduce((a, b) => a * b, 1)) } };
      const actual = await runModel(exposed, feeds);
      let ranks = 0;
      let dims = 0;
      for (const [name, tensor] of Object.entries(actual)) {
        const known = shapes.dims(name);
        if (!known) continue;
        ranks++;
        assert.equal(known.length, tensor.dims.length, `rank of '${name}'`);
        known.forEach((dim, axis) => {
          if (dim === undefined) return;
          dims++;
          assert.equal(dim, tensor.dims[axis], `dim ${axis} of '${name}'`);
        });
      }
      // Nearly everything is known once the input shape is fixed.
      assert.ok(ranks >= 0.95 * Object.keys(actual).length, `only ${ranks} of ${Object.keys(actual).length} ranks known`);
      assert.ok(dims > 0);
    }
  });

  it('sees outer values from a subgraph and prefers declared shapes', () => {
    const model = makeModel({
      name: 'scopes',
      nodes: [
        makeNode('Reshape', ['x', 'shape'], ['r']),
        makeNode('Conv', ['r', 'w'], ['c'], { attributes: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } }),
        makeNode('Flatten', ['c'], ['f'], { attributes: { axis: 2 } }),
      ],
      inputs: [makeValueInfo('x', F, ['n', 48])],
      outputs: [makeValueInfo('f', F, [undefined, undefined])],
      valueInfo: [makeValueInfo('c', F, [2, undefined, undefined, undefined])],
      initializers: [
        encodeTensor({ name: 'shape', dataType: DataType.INT64, dims: [4], data: BigInt64Array.of(0n, 3n, 4n, 4n) }),
        encodeTensor({ name: 'w', dataType: F, dims: [5, 3, 3, 3], data: new Float32Array(135) }),
      ],
    });
    const outer = inferShapes(model.graph!);
    assert.deepEqual(outer.dims('r'), [undefined, 3, 4, 4]);
    assert.deepEqual(outer.dims('c'), [2, 5, 2, 2], 'declared batch 2, inferred channels and spatial dims');
    assert.deepEqual(outer.dims('f'), [10, 4]);
    const inner = inferShapes(makeModel({ name: 'body', nodes: [makeNode('Relu', ['c'], ['y'])], inputs: [], outputs: [] }).graph!, outer);
    assert.deepEqual(inner.dims('y'), [2, 5, 2, 2]);
    assert.equal(inner.elemType('y'), F);
  });
});
