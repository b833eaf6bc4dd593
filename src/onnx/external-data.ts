import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { isAbsolute, join, normalize, sep } from 'node:path';
import { KilnError } from '../core/errors.js';
import { ioReason } from '../core/fs.js';
import {
  TensorProto_DataLocation as DataLocation,
  type StringStringEntryProto,
  type TensorProto,
} from './gen/onnx_pb.js';

/** Where one tensor's bytes sit in a side file (ONNX `external_data` keys). */
export interface ExternalLocation {
  /** Path relative to the model's directory. */
  readonly location: string;
  readonly offset: number;
  /** Byte count, or undefined for "to the end of the file". */
  readonly length: number | undefined;
}

function entryValue(entries: readonly StringStringEntryProto[], key: string): string | undefined {
  return entries.find((entry) => entry.key === key)?.value;
}

function parseByteCount(tensor: TensorProto, key: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) {
    throw externalError(tensor, `its external_data ${key} '${text}' is not a whole number`);
  }
  return Number(text);
}

function externalError(tensor: TensorProto, problem: string, cause?: unknown): KilnError {
  return new KilnError('KILN_ONNX_EXTERNAL_DATA_INVALID', `tensor '${tensor.name}': ${problem}`, {
    cause,
    details: { tensor: tensor.name },
  });
}

/** Reads and checks a tensor's `external_data` entries. */
export function externalLocation(tensor: TensorProto): ExternalLocation {
  const location = entryValue(tensor.externalData, 'location');
  if (!location) throw externalError(tensor, 'data_location is EXTERNAL but external_data has no location');
  // The ONNX checker's rule, kept for safety: side files live in or under the model's folder.
  const normalized = normalize(location);
  if (isAbsolute(location) || /^[a-zA-Z]:/.test(location) || normalized.split(/[\\/]/).includes('..')) {
    throw externalError(tensor, `external data location '${location}' points outside the model's folder`);
  }
  return {
    location: normalized,
    offset: parseByteCount(tensor, 'offset', entryValue(tensor.externalData, 'offset')) ?? 0,
    length: parseByteCount(tensor, 'length', entryValue(tensor.externalData, 'length')),
  };
}

/**
 * Loads every external tensor's bytes into `rawData` and marks it as stored inline.
 * Side files are opened once each and read at the recorded offsets (no whole-file buffers,
 * so a 3 GB side file costs only the tensors' own memory). Mutates the given tensors: call
 * it on a model you just decoded and own.
 */
export function loadExternalData(tensors: Iterable<TensorProto>, modelDir: string): string[] {
  const handles = new Map<string, { fd: number; size: number }>();
  try {
    for (const tensor of tensors) {
      if (tensor.dataLocation !== DataLocation.EXTERNAL) continue;
      const where = externalLocation(tensor);
      let handle = handles.get(where.location);
      if (!handle) {
        const path = join(modelDir, where.location);
        try {
          const fd = openSync(path, 'r');
          handle = { fd, size: fstatSync(fd).size };
        } catch (error) {
          throw externalError(tensor, `cannot open external data file ${path} (${ioReason(error)})`, error);
        }
        handles.set(where.location, handle);
      }
      const length = where.length ?? handle.size - where.offset;
      if (where.offset + length > handle.size) {
        throw externalError(
          tensor,
          `external data ${where.location} is ${handle.size} bytes, too short for offset ${where.offset} + length ${length}`,
        );
      }
      const bytes = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const read = readSync(handle.fd, bytes, done, length - done, where.offset + done);
        if (read === 0) throw externalError(tensor, `unexpected end of ${where.location}`);
        done += read;
      }
      tensor.rawData = bytes;
      tensor.externalData = [];
      // Deleted rather than set to DEFAULT: proto2 presence would otherwise write the field out.
      delete (tensor as { dataLocation?: DataLocation }).dataLocation;
    }
  } finally {
    for (const { fd } of handles.values()) closeSync(fd);
  }
  return [...handles.keys()].map((location) => location.split(sep).join('/'));
}
