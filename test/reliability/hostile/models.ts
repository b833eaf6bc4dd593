/**
 * Models onnxruntime refuses, served by built-in handlers: the archive is well formed, so the
 * worker is what fails, and the registration's 5xx must say why (the cause's first line).
 */
import { DataType, encodeModel, makeModel, makeNode, makeValueInfo } from '../../../src/onnx/index.js';
import { manifest, writeMar, type Expectation, type HostileKind } from './kind.js';


const unary = (op: string, options: { opset?: number; input?: string } = {}) =>
  encodeModel(
    makeModel({
      name: 'hostile',
      ...(options.opset ? { opset: options.opset } : {}),
      nodes: [makeNode(op, [options.input ?? 'x'], ['y'])],
      inputs: [makeValueInfo('x', DataType.FLOAT, [1, 3])],
      outputs: [makeValueInfo('y', DataType.FLOAT, [1, 3])],
    }),
  );

function model(name: string, bytes: () => Uint8Array, expect: Expectation, options: { handler?: string; config?: string; todo?: string } = {}): HostileKind {
  return {
    name,
    group: 'model',
    expect,
    ...(options.todo ? { todo: options.todo } : {}),
    write: ({ store }) =>
      writeMar(store, name, [
        { name: 'MAR-INF/MANIFEST.json', data: manifest(name, { handler: options.handler ?? 'tensor', serializedFile: 'model.onnx', ...(options.config ? { configFile: 'model-config.yaml' } : {}) }) },
        { name: 'model.onnx', data: Buffer.from(bytes()) },
        ...(options.config ? [{ name: 'model-config.yaml', data: options.config }] : []),
      ]),
  };
}

const startFails = (cause: RegExp): Expectation => ({ outcome: 'start-fails', cause });

export const MODEL_KINDS: readonly HostileKind[] = [
  model('model-not-onnx', () => new TextEncoder().encode('this is not a protobuf'), { outcome: 'refused' }),
  model('model-pickle', () => Uint8Array.from([0x80, 0x04, 0x95, 0x00]), { outcome: 'refused' }),
  model('model-garbage-protobuf', () => Uint8Array.from([0x08, 0x07, 0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]), startFails(/protobuf|pars/i)),
  model('model-truncated', () => unary('Neg').subarray(0, 40), startFails(/protobuf|pars|load/i)),
  model('model-opset-999', () => unary('Neg', { opset: 999 }), startFails(/opset|999/i)),
  model('model-unknown-op', () => unary('KilnHostileOp'), startFails(/KilnHostileOp/)),
  model('model-dangling-input', () => unary('Neg', { input: 'ghost' }), startFails(/ghost/)),
  model(
    'model-dynamic-image',
    () =>
      encodeModel(
        makeModel({
          name: 'dynamic',
          nodes: [makeNode('GlobalAveragePool', ['x'], ['pooled']), makeNode('Flatten', ['pooled'], ['y'])],
          inputs: [makeValueInfo('x', DataType.FLOAT, ['N', 3, 'H', 'W'])],
          outputs: [makeValueInfo('y', DataType.FLOAT, ['N', 3])],
        }),
      ),
    startFails(/size/i),
    { handler: 'image_classifier' },
  ),
];
