/**
 * Named tensors as one byte string, exactly: how the `tensor` handler answers a transport that
 * handed it tensors already decoded (the Open Inference Protocol routes), so outputs cross the
 * worker-thread boundary without a JSON round trip that would cost time on large outputs and
 * lose int64 precision.
 *
 * Layout: a little-endian uint32 header length, the UTF-8 JSON header
 * `[{name, type, dims, offset, bytes} | {name, type: 'string', dims, strings}]`, zero padding to
 * a multiple of 8, then each numeric tensor's little-endian bytes at its 8-aligned `offset`
 * (counted from the start of the data section).
 */
import { KilnError } from '../core/errors.js';
import { arrayConstructor, DTYPES } from '../onnx/dtype.js';
import type { HostTensor, HostTensorType } from '../runtime/tensors.js';

/** The media type of a bundle, set on the handler's response. */
export const TENSOR_BUNDLE_TYPE = 'application/x-kiln-tensors';

type NumericData = Exclude<HostTensor['data'], string[]>;

type HeaderEntry =
  | { readonly name: string; readonly type: HostTensorType; readonly dims: readonly number[]; readonly offset: number; readonly bytes: number }
  | { readonly name: string; readonly type: 'string'; readonly dims: readonly number[]; readonly strings: readonly string[] };

/** The typed array each onnxruntime element type is stored in (kiln's one dtype table). */
const ARRAYS = new Map(
  [...DTYPES.values()].filter((info) => info.ortType !== undefined && info.array !== 'string').map((info) => [info.ortType!, arrayConstructor(info) as NumericConstructor]),
);

type NumericConstructor = { new (buffer: ArrayBuffer, offset: number, length: number): NumericData; readonly BYTES_PER_ELEMENT: number };

const align8 = (value: number): number => Math.ceil(value / 8) * 8;

/** Encodes tensors by name into one bundle (copies their bytes once). */
export function encodeTensorBundle(tensors: Readonly<Record<string, HostTensor>>): Uint8Array {
  const header: HeaderEntry[] = [];
  let size = 0;
  for (const [name, tensor] of Object.entries(tensors)) {
    if (Array.isArray(tensor.data)) {
      header.push({ name, type: 'string', dims: tensor.dims, strings: tensor.data });
      continue;
    }
    const offset = align8(size);
    header.push({ name, type: tensor.type, dims: tensor.dims, offset, bytes: tensor.data.byteLength });
    size = offset + tensor.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const dataStart = align8(4 + json.length);
  const bundle = new Uint8Array(dataStart + size);
  new DataView(bundle.buffer).setUint32(0, json.length, true);
  bundle.set(json, 4);
  for (const entry of header) {
    if ('offset' in entry) {
      const data = tensors[entry.name]!.data as NumericData;
      bundle.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), dataStart + entry.offset);
    }
  }
  return bundle;
}

function corrupt(reason: string): KilnError {
  return new KilnError('KILN_HANDLER_OUTPUT_INVALID', `The tensor handler's answer is not a valid tensor bundle: ${reason}.`);
}

/**
 * Decodes a bundle made by {@link encodeTensorBundle}. Numeric tensors are views on `bytes` when
 * they are aligned in memory (a bundle that arrived in its own buffer is), copies otherwise.
 * @throws KilnError `KILN_HANDLER_OUTPUT_INVALID` when the bytes are not a whole bundle.
 */
export function decodeTensorBundle(bytes: Uint8Array): Record<string, HostTensor> {
  if (bytes.length < 4) throw corrupt('too short');
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  if (4 + headerLength > bytes.length) throw corrupt('the header runs past the end');
  let header: HeaderEntry[];
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + headerLength))) as HeaderEntry[];
  } catch (error) {
    throw corrupt(`its header is not JSON (${(error as Error).message})`);
  }
  const data = bytes.subarray(align8(4 + headerLength));
  const tensors: Record<string, HostTensor> = {};
  for (const entry of header) {
    if (!('offset' in entry)) {
      tensors[entry.name] = { type: 'string', dims: entry.dims, data: [...entry.strings] };
      continue;
    }
    const Typed = ARRAYS.get(entry.type);
    if (!Typed) throw corrupt(`tensor '${entry.name}' has type ${entry.type}`);
    if (entry.offset + entry.bytes > data.length) throw corrupt(`tensor '${entry.name}' runs past the end`);
    let slice = data.subarray(entry.offset, entry.offset + entry.bytes);
    if ((slice.byteOffset % Typed.BYTES_PER_ELEMENT !== 0) || !(slice.buffer instanceof ArrayBuffer)) slice = slice.slice();
    tensors[entry.name] = { type: entry.type, dims: entry.dims, data: new Typed(slice.buffer as ArrayBuffer, slice.byteOffset, entry.bytes / Typed.BYTES_PER_ELEMENT) };
  }
  return tensors;
}
