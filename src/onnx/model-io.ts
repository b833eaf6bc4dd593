import { closeSync, fsyncSync, openSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { KilnError } from '../core/errors.js';
import { commitTempFiles, ioReason, tempSiblingPath, writeFileAtomic, writeFully, writeTempSibling } from '../core/fs.js';
import { dtypeInfo } from './dtype.js';
import { loadExternalData } from './external-data.js';
import {
  ModelProtoSchema,
  TensorProto_DataLocation as DataLocation,
  TensorProto_DataType as DataType,
  type ModelProto,
  type TensorProto,
} from './gen/onnx_pb.js';
import { decodeTensor, encodeTensor } from './tensor.js';
import { allTensors } from './walk.js';

/** Protobuf cannot serialize a message of 2 GiB or more. */
export const PROTOBUF_LIMIT_BYTES = 2 ** 31 - 1;

/** Defaults for {@link writeModel}. */
export const WRITE_DEFAULTS = Object.freeze({
  /** Models whose tensors add up to more than this go to external data (`'auto'` mode). */
  externalDataThreshold: 1.8e9,
  /** Tensors smaller than this stay inline even when the model uses external data (ONNX's rule). */
  minExternalTensorBytes: 1024,
  /** Tensors at least this large start at a page-aligned offset so runtimes can mmap them. */
  alignTensorBytes: 1024 * 1024,
  alignment: 4096,
});

/** A model read from disk. */
export interface LoadedModel {
  readonly model: ModelProto;
  readonly path: string;
  /** Bytes of the .onnx file itself. */
  readonly fileBytes: number;
  /** Side files the model's tensors were loaded from, relative to its folder. */
  readonly externalFiles: readonly string[];
}

/**
 * Decodes ONNX bytes into a ModelProto and checks the few rules everything above relies on.
 * `source` names the bytes in error messages (usually the file path).
 */
export function decodeModel(bytes: Uint8Array, source = 'model'): ModelProto {
  if (bytes.length === 0) {
    throw new KilnError('KILN_ONNX_PARSE_FAILED', `${source}: not an ONNX model (the file is empty)`);
  }
  if (bytes[0] === 0x50 && bytes[1] === 0x4b) {
    throw new KilnError(
      'KILN_ONNX_PARSE_FAILED',
      `${source}: not an ONNX model (it is a zip archive, e.g. a .mar or a PyTorch .pt file)`,
    );
  }
  let model: ModelProto;
  try {
    model = fromBinary(ModelProtoSchema, bytes);
  } catch (error) {
    throw new KilnError(
      'KILN_ONNX_PARSE_FAILED',
      `${source}: not a valid ONNX model (protobuf decoding failed: ${(error as Error).message}; is the file truncated?)`,
      { cause: error, details: { source } },
    );
  }
  checkModel(model, source);
  return model;
}

function checkModel(model: ModelProto, source: string): void {
  const problem =
    model.irVersion <= 0n
      ? 'it has no ir_version'
      : !model.graph
        ? 'it has no graph'
        : model.opsetImport.length === 0
          ? 'it imports no operator set'
          : undefined;
  if (problem) {
    throw new KilnError('KILN_ONNX_MODEL_INVALID', `${source}: not a valid ONNX model (${problem})`, {
      details: { source },
    });
  }
}

/** Options for {@link readModel}. */
export interface ReadModelOptions {
  /** Load side-file tensors into memory. @defaultValue true */
  readonly loadExternalData?: boolean;
}

/** Reads an .onnx file, loading external data from its folder. */
export function readModel(path: string, options: ReadModelOptions = {}): LoadedModel {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'KILN_IO_NOT_FOUND' : 'KILN_IO_READ_FAILED';
    throw new KilnError(code, `${path}: cannot read model (${ioReason(error)})`, { cause: error, details: { path } });
  }
  const model = decodeModel(bytes, path);
  let externalFiles: string[] = [];
  if (options.loadExternalData ?? true) {
    try {
      externalFiles = loadExternalData(
        Array.from(allTensors(model), (site) => site.tensor),
        dirname(path),
      );
    } catch (error) {
      if (error instanceof KilnError) {
        throw new KilnError(error.code, `${path}: ${error.message}`, { cause: error.cause, details: error.details });
      }
      throw error;
    }
  }
  return { model, path, fileBytes: bytes.length, externalFiles };
}

/** Serializes a model that fits in one protobuf message. */
export function encodeModel(model: ModelProto): Uint8Array {
  const estimate = tensorBytes(model);
  if (estimate > PROTOBUF_LIMIT_BYTES) {
    throw new KilnError(
      'KILN_ONNX_TOO_LARGE',
      `model tensors take ${estimate} bytes, over protobuf's 2 GiB limit: write it with external data`,
    );
  }
  return toBinary(ModelProtoSchema, model);
}

/** Bytes held by all tensors of a model (inline raw data and typed fields). */
export function tensorBytes(model: ModelProto): number {
  let total = 0;
  for (const { tensor } of allTensors(model)) total += inlineBytes(tensor);
  return total;
}

/** Bytes per entry of each typed field once stored raw (int32_data carries 8/16-bit values too). */
const TYPED_FIELD_BYTES = { floatData: 4, int32Data: 4, int64Data: 8, doubleData: 8, uint64Data: 8 } as const;

function inlineBytes(tensor: TensorProto): number {
  if (tensor.rawData.length > 0) return tensor.rawData.length;
  const info = dtypeInfo(tensor.dataType);
  if (!info || info.typedField === 'stringData') return tensor.stringData.reduce((sum, s) => sum + s.length, 0);
  return tensor[info.typedField].length * TYPED_FIELD_BYTES[info.typedField];
}

/** Options for {@link writeModel}. */
export interface WriteModelOptions {
  /**
   * `'auto'` moves tensors to a side file when they pass `externalDataThreshold`; `'always'`
   * and `'never'` force the choice. @defaultValue `'auto'`
   */
  readonly externalData?: 'auto' | 'always' | 'never';
  /** @defaultValue {@link WRITE_DEFAULTS}.externalDataThreshold (1.8 GB) */
  readonly externalDataThreshold?: number;
  /** @defaultValue {@link WRITE_DEFAULTS}.minExternalTensorBytes (1024) */
  readonly minExternalTensorBytes?: number;
  /** Side file name, relative to the model's folder. @defaultValue `<model file name>.data` */
  readonly externalDataFile?: string;
}

/** What {@link writeModel} wrote. */
export interface WriteModelResult {
  readonly path: string;
  readonly fileBytes: number;
  /** The side file, when tensors were written externally. */
  readonly externalFile: string | undefined;
  readonly externalBytes: number;
  readonly externalTensors: number;
}

/**
 * Writes a model to `path` atomically, moving large tensors to a side file when asked or
 * when the model would pass the threshold. The caller's model is left as it was.
 */
export function writeModel(model: ModelProto, path: string, options: WriteModelOptions = {}): WriteModelResult {
  const mode = options.externalData ?? 'auto';
  const threshold = options.externalDataThreshold ?? WRITE_DEFAULTS.externalDataThreshold;
  const useExternal = mode === 'always' || (mode === 'auto' && tensorBytes(model) > threshold);
  if (!useExternal) {
    const bytes = encodeModel(model);
    writeFileAtomic(path, [bytes]);
    return { path, fileBytes: bytes.length, externalFile: undefined, externalBytes: 0, externalTensors: 0 };
  }
  return writeWithExternalData(model, path, options);
}

/** Tensor fields that hold or locate its values. */
const DATA_FIELDS = [
  'rawData',
  'floatData',
  'int32Data',
  'int64Data',
  'doubleData',
  'uint64Data',
  'externalData',
  'dataLocation',
] as const satisfies readonly (keyof TensorProto)[];

/** Optional (proto2 presence-tracked) fields: unset ones must stay absent, not become defaults. */
const OPTIONAL_FIELDS = new Set<string>(['rawData', 'dataLocation']);

interface Saved {
  readonly tensor: TensorProto;
  /** Own values of the data fields; absent keys were unset and are deleted again on restore. */
  readonly fields: Partial<Record<(typeof DATA_FIELDS)[number], unknown>>;
}

function writeWithExternalData(model: ModelProto, path: string, options: WriteModelOptions): WriteModelResult {
  const minBytes = options.minExternalTensorBytes ?? WRITE_DEFAULTS.minExternalTensorBytes;
  const location = options.externalDataFile ?? `${basename(path)}.data`;
  const dataPath = join(dirname(path), location);
  const tempData = tempSiblingPath(dataPath);
  // Tensors are swapped to external form in place for the one synchronous serialization,
  // then restored in `finally`: cloning would double the memory of a multi-GB model.
  const saved: Saved[] = [];
  let externalBytes = 0;
  let fd: number | undefined;
  try {
    fd = openSync(tempData, 'wx');
    for (const { tensor } of allTensors(model)) {
      if (tensor.dataLocation === DataLocation.EXTERNAL || tensor.dataType === DataType.STRING) continue;
      const raw = tensor.rawData.length > 0 ? tensor.rawData : inlineBytes(tensor) >= minBytes ? toRaw(tensor) : undefined;
      if (!raw || raw.length < minBytes) continue;
      if (raw.length >= WRITE_DEFAULTS.alignTensorBytes) {
        const padding = (WRITE_DEFAULTS.alignment - (externalBytes % WRITE_DEFAULTS.alignment)) % WRITE_DEFAULTS.alignment;
        writeFully(fd, new Uint8Array(padding));
        externalBytes += padding;
      }
      saved.push({ tensor, fields: saveDataFields(tensor) });
      writeFully(fd, raw);
      clearTensorData(tensor);
      tensor.dataLocation = DataLocation.EXTERNAL;
      tensor.externalData = [
        { key: 'location', value: location },
        { key: 'offset', value: String(externalBytes) },
        { key: 'length', value: String(raw.length) },
      ].map((entry) => ({ $typeName: 'onnx.StringStringEntryProto', ...entry }));
      externalBytes += raw.length;
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    const bytes = encodeModel(model);
    // Both files are complete on disk before either is renamed into place.
    commitTempFiles([
      [tempData, dataPath],
      [writeTempSibling(path, [bytes]), path],
    ]);
    return { path, fileBytes: bytes.length, externalFile: location, externalBytes, externalTensors: saved.length };
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tempData, { force: true });
    if (error instanceof KilnError) throw error;
    throw new KilnError('KILN_IO_WRITE_FAILED', `${dataPath}: cannot write external data (${ioReason(error)})`, {
      cause: error,
      details: { path: dataPath },
    });
  } finally {
    for (const { tensor, fields } of saved) restoreDataFields(tensor, fields);
  }
}

function toRaw(tensor: TensorProto): Uint8Array {
  return encodeTensor(decodeTensor(tensor)).rawData;
}

function saveDataFields(tensor: TensorProto): Saved['fields'] {
  const fields: Saved['fields'] = {};
  for (const key of DATA_FIELDS) {
    if (Object.hasOwn(tensor, key)) fields[key] = tensor[key];
  }
  return fields;
}

function restoreDataFields(tensor: TensorProto, fields: Saved['fields']): void {
  const target = tensor as unknown as Record<string, unknown>;
  for (const key of DATA_FIELDS) {
    if (key in fields) target[key] = fields[key];
    else delete target[key];
  }
}

function clearTensorData(tensor: TensorProto): void {
  const target = tensor as unknown as Record<string, unknown>;
  for (const key of DATA_FIELDS) {
    if (OPTIONAL_FIELDS.has(key)) delete target[key];
    else target[key] = [];
  }
}
