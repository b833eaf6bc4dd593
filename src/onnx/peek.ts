/**
 * Reading one top-level field of an ONNX file without decoding the model: the wire format is
 * walked field by field and the graph (nearly all of the bytes) is skipped by its length. A
 * server uses it to learn whether a model was folded by kiln before it pays for a full decode
 * (tens of milliseconds and the ONNX schema's import for a 14 MB MobileNetV2); from a file, only
 * the few bytes of each field's header and of the field read are read, whatever the model's size.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

/** ModelProto.metadata_props, and StringStringEntryProto's key and value (onnx.proto3). */
const METADATA_PROPS = 14;
const ENTRY_KEY = 1;
const ENTRY_VALUE = 2;
/** Enough for a field's tag and a length or varint value (5 + 10 bytes at most). */
const HEADER_BYTES = 16;

/** Up to `length` bytes of the source at `offset` (fewer at its end). */
type ReadAt = (offset: number, length: number) => Uint8Array;

/**
 * The model's metadata_props as a map, read from its serialized bytes; undefined when the bytes
 * are not a well-formed protobuf message (the caller's full decode then names the fault).
 * @example peekMetadataProps(bytes).get('kiln.preprocess_folded')
 */
export function peekMetadataProps(bytes: Uint8Array): Map<string, string> | undefined {
  return walkMetadataProps(bytes.length, (offset, length) => bytes.subarray(offset, offset + length));
}

/**
 * {@link peekMetadataProps} of an `.onnx` file, reading only the headers of its top-level fields
 * and the metadata entries; undefined when it is not a well-formed protobuf message.
 * @throws the file system's errors (a missing or unreadable file)
 * @example peekFileMetadataProps('model.onnx')?.has('kiln.preprocess_folded')
 */
export function peekFileMetadataProps(path: string): Map<string, string> | undefined {
  const fd = openSync(path, 'r');
  try {
    return walkMetadataProps(fstatSync(fd).size, (offset, length) => {
      const buffer = Buffer.alloc(length);
      return buffer.subarray(0, readSync(fd, buffer, 0, length, offset));
    });
  } finally {
    closeSync(fd);
  }
}

function walkMetadataProps(size: number, readAt: ReadAt): Map<string, string> | undefined {
  const props = new Map<string, string>();
  try {
    let offset = 0;
    while (offset < size) {
      const header = new BinaryReader(readAt(offset, HEADER_BYTES));
      const [field, wireType] = header.tag();
      if (wireType !== WireType.LengthDelimited) {
        header.skip(wireType, field);
        offset += header.pos;
        continue;
      }
      const length = header.uint32();
      const start = offset + header.pos;
      if (start + length > size) return undefined;
      if (field === METADATA_PROPS) {
        const [key, value] = metadataEntry(readAt(start, length));
        props.set(key, value);
      }
      offset = start + length;
    }
  } catch {
    return undefined;
  }
  return props;
}

function metadataEntry(bytes: Uint8Array): [string, string] {
  const entry = new BinaryReader(bytes);
  let key = '';
  let value = '';
  while (entry.pos < entry.len) {
    const [field, wireType] = entry.tag();
    if (field === ENTRY_KEY && wireType === WireType.LengthDelimited) key = entry.string();
    else if (field === ENTRY_VALUE && wireType === WireType.LengthDelimited) value = entry.string();
    else entry.skip(wireType, field);
  }
  return [key, value];
}
