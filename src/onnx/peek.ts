/**
 * Reading one top-level field of an ONNX file without decoding the model: the wire format is
 * walked field by field and the graph (nearly all of the bytes) is skipped by its length. A
 * server uses it to learn whether a model was folded by kiln before it pays for a full decode
 * (tens of milliseconds and the ONNX schema's import for a 14 MB MobileNetV2).
 */
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

/** ModelProto.metadata_props, and StringStringEntryProto's key and value (onnx.proto3). */
const METADATA_PROPS = 14;
const ENTRY_KEY = 1;
const ENTRY_VALUE = 2;

/**
 * The model's metadata_props as a map, read from its serialized bytes; undefined when the bytes
 * are not a well-formed protobuf message (the caller's full decode then names the fault).
 * @example peekMetadataProps(readFileSync('model.onnx')).get('kiln.preprocess_folded')
 */
export function peekMetadataProps(bytes: Uint8Array): Map<string, string> | undefined {
  const props = new Map<string, string>();
  try {
    const reader = new BinaryReader(bytes);
    while (reader.pos < reader.len) {
      const [field, wireType] = reader.tag();
      if (field !== METADATA_PROPS || wireType !== WireType.LengthDelimited) {
        reader.skip(wireType, field);
        continue;
      }
      const entry = new BinaryReader(reader.bytes());
      let key = '';
      let value = '';
      while (entry.pos < entry.len) {
        const [entryField, entryWire] = entry.tag();
        if (entryField === ENTRY_KEY && entryWire === WireType.LengthDelimited) key = entry.string();
        else if (entryField === ENTRY_VALUE && entryWire === WireType.LengthDelimited) value = entry.string();
        else entry.skip(entryWire, entryField);
      }
      props.set(key, value);
    }
  } catch {
    return undefined;
  }
  return props;
}
