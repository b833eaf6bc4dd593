export * from './build.js';
export * from './dtype.js';
export * from './edit.js';
export * from './external-data.js';
export * from './graph.js';
export * from './model-io.js';
export * from './summary.js';
export * from './tensor.js';
export * from './walk.js';
export * as proto from './gen/onnx_pb.js';
export type {
  AttributeProto,
  GraphProto,
  ModelProto,
  NodeProto,
  TensorProto,
  ValueInfoProto,
} from './gen/onnx_pb.js';
export * from './passes/index.js';
