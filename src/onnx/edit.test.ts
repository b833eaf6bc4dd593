import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromBinary, isFieldSet, toBinary } from '@bufbuild/protobuf';
import { KilnError, type ErrorCode } from '../core/errors.js';
import { makeModel, makeNode, makeValueInfo } from './build.js';
import { DataType } from './dtype.js';
import { editGraph, editModel, shallowCopy } from './edit.js';
import { GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, type ModelProto, type NodeProto } from './gen/onnx_pb.js';
import { encodeTensor } from './tensor.js';

const F = DataType.FLOAT;

function rejectsWith(code: ErrorCode, pattern?: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof KilnError, `expected a KilnError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

function tensor(name: string, values: number[]) {
  return encodeTensor({ name, dataType: F, dims: [values.length], data: Float32Array.from(values) });
}

/** x -> Mul(w) -> m -> Add(b) -> y, with w and b initializers (b also listed as an input). */
function sampleModel(): ModelProto {
  return makeModel({
    name: 'edit-me',
    nodes: [
      makeNode('Mul', ['x', 'w'], ['m'], { name: 'mul' }),
      makeNode('Add', ['m', 'b'], ['y'], { name: 'add' }),
    ],
    inputs: [makeValueInfo('x', F, [2]), makeValueInfo('b', F, [2])],
    outputs: [makeValueInfo('y', F, [2])],
    initializers: [tensor('w', [2, 3]), tensor('b', [0.5, -0.5])],
  });
}

function names(nodes: readonly NodeProto[]): string[] {
  return nodes.map((node) => node.name);
}

/** Runs `action` and checks the model, its graph arrays and nodes serialize and compare as before. */
function assertUntouched(model: ModelProto, action: () => void): void {
  const graph = model.graph!;
  const bytes = toBinary(ModelProtoSchema, model);
  const arrays = { node: graph.node, initializer: graph.initializer, input: graph.input, output: graph.output, valueInfo: graph.valueInfo };
  const lengths = Object.fromEntries(Object.entries(arrays).map(([key, list]) => [key, list.length]));
  const nodeBytes = graph.node.map((node) => toBinary(NodeProtoSchema, node));
  action();
  assert.deepEqual(toBinary(ModelProtoSchema, model), bytes);
  assert.equal(model.graph, graph);
  for (const [key, list] of Object.entries(arrays)) {
    assert.equal((graph as unknown as Record<string, unknown>)[key], list, `graph.${key} replaced`);
    assert.equal(list.length, lengths[key], `graph.${key} length changed`);
  }
  graph.node.forEach((node, index) => assert.deepEqual(toBinary(NodeProtoSchema, node), nodeBytes[index]));
}

describe('editGraph', () => {
  it('removes a node by identity and by name', () => {
    const graph = sampleModel().graph!;
    const byIdentity = editGraph(graph, { removeNodes: [graph.node[1]!] });
    assert.deepEqual(names(byIdentity.node), ['mul']);
    const byName = editGraph(graph, { removeNodes: ['mul'] });
    assert.deepEqual(names(byName.node), ['add']);
    const both = editGraph(graph, { removeNodes: ['mul', graph.node[1]!] });
    assert.deepEqual(both.node, []);
  });

  it('adds nodes and re-sorts the result topologically', () => {
    const graph = sampleModel().graph!;
    // relu reads y (produced last) and feeds a new output; neg must come before mul.
    const relu = makeNode('Relu', ['y'], ['z'], { name: 'relu' });
    const neg = makeNode('Neg', ['x0'], ['x'], { name: 'neg' });
    const next = editGraph(graph, { addNodes: [relu, neg], outputs: [makeValueInfo('z', F, [2])] });
    assert.deepEqual(names(next.node), ['neg', 'mul', 'add', 'relu']);
    assert.deepEqual(
      next.output.map((output) => output.name),
      ['z'],
    );
    assert.equal(next.node[0], neg, 'added nodes are used as given');
  });

  it('adds and removes initializers, dropping graph inputs that named a removed one', () => {
    const graph = sampleModel().graph!;
    const next = editGraph(graph, { removeInitializers: ['b'], addInitializers: [tensor('c', [7])] });
    assert.deepEqual(
      next.initializer.map((t) => t.name),
      ['w', 'c'],
    );
    assert.deepEqual(
      next.input.map((input) => input.name),
      ['x'],
    );
    // Replacing an initializer (remove and re-add under the same name) keeps its input entry.
    const replaced = editGraph(graph, { removeInitializers: ['b'], addInitializers: [tensor('b', [1, 1])] });
    assert.deepEqual(
      replaced.input.map((input) => input.name),
      ['x', 'b'],
    );
    assert.notEqual(replaced.initializer[1], graph.initializer[1]);
  });

  it('appends value_info', () => {
    const graph = sampleModel().graph!;
    const next = editGraph(graph, { addValueInfo: [makeValueInfo('m', F, [2])] });
    assert.deepEqual(
      next.valueInfo.map((info) => info.name),
      ['m'],
    );
  });

  it('rejects unknown nodes and initializers and duplicate initializers', () => {
    const graph = sampleModel().graph!;
    const stranger = makeNode('Relu', ['x'], ['r'], { name: 'stranger' });
    const code = 'KILN_ONNX_GRAPH_EDIT_INVALID';
    assert.throws(() => editGraph(graph, { removeNodes: ['nope'] }), rejectsWith(code, /'nope'.*'edit-me'/));
    assert.throws(() => editGraph(graph, { removeNodes: [stranger] }), rejectsWith(code, /'stranger'/));
    assert.throws(() => editGraph(graph, { removeInitializers: ['w', 'zz'] }), rejectsWith(code, /'zz'/));
    assert.throws(() => editGraph(graph, { addInitializers: [tensor('w', [1])] }), rejectsWith(code, /'w' already exists/));
    assert.throws(
      () => editGraph(graph, { addInitializers: [tensor('n', [1]), tensor('n', [2])] }),
      rejectsWith(code, /'n' already exists/),
    );
  });

  it('leaves the caller graph, its arrays and its nodes untouched', () => {
    const model = sampleModel();
    const graph = model.graph!;
    assertUntouched(model, () => {
      editGraph(graph, { removeNodes: ['add'] });
      editGraph(graph, {
        addNodes: [makeNode('Relu', ['y'], ['z'], { name: 'relu' })],
        removeInitializers: ['b'],
        addInitializers: [tensor('c', [1])],
        addValueInfo: [makeValueInfo('m', F, [2])],
        outputs: [makeValueInfo('z', F, [2])],
      });
      assert.throws(() => editGraph(graph, { removeNodes: ['mul'], addInitializers: [tensor('w', [1])] }));
    });
  });
});

describe('editModel', () => {
  it('returns a new model around the edited graph and leaves the original alone', () => {
    const model = sampleModel();
    assertUntouched(model, () => {
      const next = editModel(model, { removeNodes: ['add'], outputs: [makeValueInfo('m', F, [2])] });
      assert.notEqual(next, model);
      assert.deepEqual(names(next.graph!.node), ['mul']);
      assert.equal(next.irVersion, model.irVersion);
      assert.equal(next.opsetImport, model.opsetImport);
    });
  });

  it('rejects a model without a graph', () => {
    const model = sampleModel();
    model.graph = undefined;
    assert.throws(() => editModel(model, {}), rejectsWith('KILN_ONNX_GRAPH_EDIT_INVALID'));
  });
});

describe('shallowCopy', () => {
  it('keeps proto2 presence: an unedited copy serializes to the same bytes', () => {
    const model = sampleModel();
    // Explicitly set to the default value: proto2 presence writes it out, so the copy must too.
    model.graph!.docString = '';
    model.domain = '';
    const original = toBinary(ModelProtoSchema, model);
    const decoded = fromBinary(ModelProtoSchema, original);
    for (const source of [model, decoded]) {
      const copy = editModel(source, {});
      assert.deepEqual(toBinary(ModelProtoSchema, copy), toBinary(ModelProtoSchema, source));
      assert.equal(isFieldSet(copy.graph!, GraphProtoSchema.field.docString), true);
      assert.equal(isFieldSet(copy, ModelProtoSchema.field.domain), true);
      assert.equal(isFieldSet(copy, ModelProtoSchema.field.modelVersion), false);
      assert.equal(isFieldSet(copy.graph!, GraphProtoSchema.field.name), true);
    }
    // A field unset in the original stays unset.
    const bare = sampleModel();
    const bareCopy = shallowCopy(ModelProtoSchema, bare);
    assert.equal(isFieldSet(bareCopy, ModelProtoSchema.field.docString), false);
    assert.deepEqual(toBinary(ModelProtoSchema, bareCopy), toBinary(ModelProtoSchema, bare));
  });

  it('keeps unknown fields', () => {
    const bytes = toBinary(ModelProtoSchema, sampleModel());
    // Field 99, varint 5: unknown to the schema.
    const withUnknown = Uint8Array.from([...bytes, 0x98, 0x06, 0x05]);
    const model = fromBinary(ModelProtoSchema, withUnknown);
    const copy = shallowCopy(ModelProtoSchema, model);
    assert.deepEqual(toBinary(ModelProtoSchema, copy), toBinary(ModelProtoSchema, model));
    assert.ok(toBinary(ModelProtoSchema, copy).length > bytes.length);
  });
});
