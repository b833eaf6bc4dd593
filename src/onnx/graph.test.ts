import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { KilnError } from '../core/errors.js';
import { makeModel, makeNode, makeValueInfo } from './build.js';
import { DataType } from './dtype.js';
import { GraphProtoSchema, OperatorSetIdProtoSchema, type NodeProto } from './gen/onnx_pb.js';
import { GraphView, opsetVersion, valueTypeOf } from './graph.js';
import { encodeTensor } from './tensor.js';

const F = DataType.FLOAT;

/** x -> Relu -> a; (a, a) -> Mul -> b; (b, w) -> Add -> y; bias w is an initializer also listed as an input. */
function sampleModel() {
  const relu = makeNode('Relu', ['x'], ['a'], { name: 'relu' });
  const square = makeNode('Mul', ['a', 'a'], ['b'], { name: 'square' });
  const add = makeNode('Add', ['b', 'w'], ['y'], { name: 'add' });
  const w = encodeTensor({ name: 'w', dataType: F, dims: [3], data: Float32Array.of(1, 2, 3) });
  const model = makeModel({
    name: 'sample',
    nodes: [relu, square, add],
    inputs: [makeValueInfo('x', F, ['batch', 3]), makeValueInfo('w', F, [3])],
    outputs: [makeValueInfo('y', F, ['batch', undefined])],
    initializers: [w],
    valueInfo: [makeValueInfo('a', DataType.FLOAT16, undefined)],
  });
  return { model, graph: model.graph!, relu, square, add };
}

function names(nodes: readonly NodeProto[]): string[] {
  return nodes.map((node) => node.name);
}

describe('GraphView', () => {
  it('indexes producers and consumers, listing a node that reads a value twice once', () => {
    const { graph, relu, square, add } = sampleModel();
    const view = new GraphView(graph);
    assert.equal(view.producer('a'), relu);
    assert.equal(view.producer('y'), add);
    assert.equal(view.producer('x'), undefined, 'graph inputs have no producer');
    assert.equal(view.producer('w'), undefined, 'initializers have no producer');
    assert.deepEqual(view.consumers('a'), [square]);
    assert.deepEqual(view.consumers('w'), [add]);
    assert.deepEqual(view.consumers('y'), []);
    assert.deepEqual(view.consumers('nope'), []);
    assert.equal(view.isGraphOutput('y'), true);
    assert.equal(view.isGraphOutput('b'), false);
    assert.deepEqual(view.nodes, graph.node);
  });

  it('lists several consumers in file order and ignores omitted optional inputs', () => {
    const first = makeNode('Neg', ['x'], ['n'], { name: 'first' });
    const clip = makeNode('Clip', ['x', '', 'm'], ['c'], { name: 'clip' });
    const second = makeNode('Abs', ['x'], ['z'], { name: 'second' });
    const graph = create(GraphProtoSchema, { name: 'g', node: [first, clip, second] });
    const view = new GraphView(graph);
    assert.deepEqual(names(view.consumers('x')), ['first', 'clip', 'second']);
    assert.deepEqual(view.consumers(''), []);
  });

  it('looks up initializers and decodes their values as a fresh copy', () => {
    const { graph } = sampleModel();
    const view = new GraphView(graph);
    assert.equal(view.initializer('w'), graph.initializer[0]);
    assert.equal(view.initializer('x'), undefined);
    assert.deepEqual(view.initializerNames, ['w']);
    const values = view.initializerValues('w');
    assert.ok(values);
    assert.deepEqual(values.dims, [3]);
    assert.deepEqual([...(values.data as Float32Array)], [1, 2, 3]);
    (values.data as Float32Array)[0] = 99;
    assert.deepEqual([...(view.initializerValues('w')!.data as Float32Array)], [1, 2, 3]);
    assert.equal(view.initializerValues('missing'), undefined);
  });

  it('reports declared types of inputs, outputs, value_info and initializers', () => {
    const { graph } = sampleModel();
    const int8 = encodeTensor({ name: 'k', dataType: DataType.INT8, dims: [2, 2], data: new Int8Array(4) });
    graph.initializer.push(int8);
    const view = new GraphView(graph);

    const x = view.valueType('x');
    assert.equal(x?.dataType, F);
    assert.equal(x?.dtype?.name, 'float32');
    assert.deepEqual(x?.shape, ['batch', 3]);

    assert.deepEqual(view.valueType('y')?.shape, ['batch', undefined]);

    const a = view.valueType('a');
    assert.equal(a?.dtype?.name, 'float16');
    assert.equal(a?.shape, undefined, 'unknown rank');

    // Declared as an input, so the ValueInfo wins over the initializer's own dims.
    assert.deepEqual(view.valueType('w')?.shape, [3]);
    // Not declared anywhere else: type comes from the tensor.
    const k = view.valueType('k');
    assert.equal(k?.dataType, DataType.INT8);
    assert.deepEqual(k?.shape, [2, 2]);

    assert.equal(view.valueType('b'), undefined);
  });

  it('valueTypeOf ignores non-tensor values', () => {
    const info = makeValueInfo('v', F, [1]);
    info.type = undefined;
    assert.equal(valueTypeOf(info), undefined);
  });

  it('feedInputs excludes initializers listed as inputs', () => {
    const { graph } = sampleModel();
    const view = new GraphView(graph);
    assert.deepEqual(
      view.feedInputs.map((input) => input.name),
      ['x'],
    );
    assert.equal(graph.input.length, 2, 'the graph itself is not changed');
  });

  it('topologicalOrder sorts a shuffled graph', () => {
    const { graph } = sampleModel();
    const shuffled = create(GraphProtoSchema, { ...graph, node: [graph.node[2]!, graph.node[0]!, graph.node[1]!] });
    const order = new GraphView(shuffled).topologicalOrder();
    assert.deepEqual(names(order), ['relu', 'square', 'add']);
    assert.deepEqual(names(shuffled.node), ['add', 'relu', 'square'], 'the graph keeps its own order');
  });

  it('topologicalOrder keeps file order among independent nodes', () => {
    // c2 depends on a1; b1 and d1 depend on nothing in the graph.
    const c2 = makeNode('Neg', ['a'], ['c'], { name: 'c2' });
    const b1 = makeNode('Abs', ['x'], ['b'], { name: 'b1' });
    const a1 = makeNode('Relu', ['x'], ['a'], { name: 'a1' });
    const d1 = makeNode('Exp', ['x'], ['d'], { name: 'd1' });
    const graph = create(GraphProtoSchema, { name: 'g', node: [c2, b1, a1, d1] });
    const order = names(new GraphView(graph).topologicalOrder());
    assert.deepEqual(order.filter((n) => n !== 'c2'), ['b1', 'a1', 'd1']);
    assert.ok(order.indexOf('c2') > order.indexOf('a1'));
  });

  it(
    'topologicalOrder returns an already sorted graph unchanged',
    () => {
      const a = makeNode('Relu', ['x'], ['a'], { name: 'a' });
      const b = makeNode('Neg', ['a'], ['b'], { name: 'b' });
      const c = makeNode('Abs', ['x'], ['c'], { name: 'c' });
      const graph = create(GraphProtoSchema, { name: 'g', node: [a, b, c] });
      assert.deepEqual(names(new GraphView(graph).topologicalOrder()), ['a', 'b', 'c']);
    },
  );

  it('topologicalOrder handles a node with two outputs read by one consumer', () => {
    const split = makeNode('Split', ['x'], ['p', 'q'], { name: 'split' });
    const add = makeNode('Add', ['p', 'q'], ['y'], { name: 'add' });
    const graph = create(GraphProtoSchema, { name: 'g', node: [add, split] });
    assert.deepEqual(names(new GraphView(graph).topologicalOrder()), ['split', 'add']);
  });

  it('topologicalOrder throws KILN_ONNX_MODEL_INVALID on a cycle', () => {
    const n1 = makeNode('Add', ['x', 'b'], ['a'], { name: 'n1' });
    const n2 = makeNode('Relu', ['a'], ['b'], { name: 'n2' });
    const ok = makeNode('Neg', ['x'], ['z'], { name: 'ok' });
    const graph = create(GraphProtoSchema, { name: 'loopy', node: [ok, n1, n2] });
    assert.throws(
      () => new GraphView(graph).topologicalOrder(),
      (error: unknown) => {
        assert.ok(error instanceof KilnError);
        assert.equal(error.code, 'KILN_ONNX_MODEL_INVALID');
        assert.match(error.message, /'loopy' has a cycle through node 'n1'/);
        return true;
      },
    );
  });
});

describe('opsetVersion', () => {
  it("treats '' and 'ai.onnx' as the same domain", () => {
    const { model } = sampleModel();
    assert.equal(opsetVersion(model), 17);
    assert.equal(opsetVersion(model, ''), 17);
    assert.equal(opsetVersion(model, 'ai.onnx'), 17);
    assert.equal(opsetVersion(model, 'com.microsoft'), undefined);

    model.opsetImport = [
      create(OperatorSetIdProtoSchema, { domain: 'ai.onnx', version: 13n }),
      create(OperatorSetIdProtoSchema, { domain: 'com.microsoft', version: 1n }),
    ];
    assert.equal(opsetVersion(model), 13);
    assert.equal(opsetVersion(model, 'ai.onnx'), 13);
    assert.equal(opsetVersion(model, 'com.microsoft'), 1);
  });
});
