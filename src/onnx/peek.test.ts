import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { buildMobileNetV2 } from '../../test/fixtures/mobilenet-v2.js';
import { makeModel, makeNode, makeValueInfo } from './build.js';
import { DataType } from './dtype.js';
import { StringStringEntryProtoSchema, type ModelProto } from './gen/onnx_pb.js';
import { encodeModel } from './model-io.js';
import { peekFileMetadataProps, peekMetadataProps } from './peek.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-peek-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function withProps(model: ModelProto, props: Record<string, string>): Uint8Array {
  model.metadataProps = Object.entries(props).map(([key, value]) => create(StringStringEntryProtoSchema, { key, value }));
  return encodeModel(model);
}

const identity = () => makeModel({ name: 'm', nodes: [makeNode('Identity', ['x'], ['y'])], inputs: [makeValueInfo('x', DataType.FLOAT, [1])], outputs: [makeValueInfo('y', DataType.FLOAT, [1])] });

test('peekMetadataProps and peekFileMetadataProps read metadata_props as the full decode does', () => {
  const props = { 'kiln.preprocess_folded': '{"layout":"nchw"}', author: 'ünïcode ✓', empty: '' };
  for (const [label, bytes, want] of [
    ['none', withProps(identity(), {}), {}],
    ['three entries', withProps(identity(), props), props],
    ['MobileNetV2 (a 14 MB graph before them)', withProps(buildMobileNetV2({ resolution: 96 }), props), props],
  ] as const) {
    const path = join(dir, 'model.onnx');
    writeFileSync(path, bytes);
    assert.deepEqual(peekMetadataProps(bytes), new Map(Object.entries(want)), label);
    assert.deepEqual(peekFileMetadataProps(path), new Map(Object.entries(want)), `${label}, from the file`);
  }
});

test('both give undefined for bytes that are not a protobuf message, and the file form throws for a missing file', () => {
  const bytes = withProps(identity(), { key: 'value' });
  for (const broken of [bytes.subarray(0, bytes.length - 3), new TextEncoder().encode('PK\u0003\u0004 not a model')]) {
    assert.equal(peekMetadataProps(broken), undefined);
    writeFileSync(join(dir, 'broken.onnx'), broken);
    assert.equal(peekFileMetadataProps(join(dir, 'broken.onnx')), undefined);
  }
  assert.throws(() => peekFileMetadataProps(join(dir, 'missing.onnx')), { code: 'ENOENT' });
});
