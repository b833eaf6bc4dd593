import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataType } from './dtype.js';
import { TensorProto_DataType } from './gen/onnx_pb.js';

test('DataType is the generated TensorProto.DataType enum, every value and its reverse mapping', () => {
  assert.deepEqual({ ...DataType }, { ...TensorProto_DataType });
  assert.equal(DataType.FLOAT4E2M1, TensorProto_DataType.FLOAT4E2M1);
  assert.equal(DataType[DataType.BFLOAT16], 'BFLOAT16');
});
