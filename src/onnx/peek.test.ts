import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { makeModel, makeNode, makeValueInfo } from './build.js';
import { DataType } from './dtype.js';
import { StringStringEntryProtoSchema } from './gen/onnx_pb.js';
import { encodeModel } from './model-io.js';
import { peekMetadataProps } from './peek.js';

function modelWith(props: Record<string, string>): Uint8Array {
  const model = makeModel({ name: 'm', nodes: [makeNode('Identity', ['x'], ['y'])], inputs: [makeValueInfo('x', DataType.FLOAT, [1])], outputs: [makeValueInfo('y', DataType.FLOAT, [1])] });
  model.metadataProps = Object.entries(props).map(([key, value]) => create(StringStringEntryProtoSchema, { key, value }));
  return encodeModel(model);
}

test('peekMetadataProps reads metadata_props as the full decode does, and nothing else', () => {
  assert.deepEqual(peekMetadataProps(modelWith({})), new Map());
  const props = { 'kiln.preprocess_folded': '{"layout":"nchw"}', author: 'ünïcode ✓', empty: '' };
  assert.deepEqual(peekMetadataProps(modelWith(props)), new Map(Object.entries(props)));
});

test('peekMetadataProps gives undefined for bytes that are not a protobuf message', () => {
  const bytes = modelWith({ key: 'value' });
  assert.equal(peekMetadataProps(bytes.subarray(0, bytes.length - 3)), undefined);
  assert.equal(peekMetadataProps(new TextEncoder().encode('PK\u0003\u0004 not a model')), undefined);
});
