/**
 * One request of the `tensor` handler, decoded into feeds and checked against the model's
 * inputs: JSON `{"inputs": {NAME: {dims, type, data}}}`, or a NumPy `.npy` body for a model with
 * one input. Every problem is a `KILN_HANDLER_INPUT_INVALID` (400) that names the request.
 */
import { z } from 'zod';
import { KilnError } from '../core/errors.js';
import { feedProblems, type TensorSignature } from '../runtime/feeds.js';
import { isNpy, NPY_MEDIA_TYPE, parseNpy } from '../runtime/npy.js';
import type { HostTensor } from '../runtime/tensors.js';
import type { RequestInput } from './types.js';
import { describeIssue } from '../core/schema-errors.js';

/** Tensors by input name: what one request feeds the model. */
export type TensorFeeds = Record<string, HostTensor>;

const NUMERIC_TYPES = ['float32', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool'] as const;
type NumericType = (typeof NUMERIC_TYPES)[number];

const TensorJson = z.strictObject({
  dims: z.array(z.number().int().nonnegative()),
  type: z.enum(NUMERIC_TYPES).optional(),
  data: z.array(z.union([z.number(), z.boolean()])),
});

const RequestJson = z.strictObject({ inputs: z.record(z.string(), TensorJson) });

/** A tensor as JSON: `{"dims": [1, 3], "type": "float32", "data": [0.1, 0.2, 0.3]}`. */
export type TensorJson = z.infer<typeof TensorJson>;

const ARRAYS: Record<NumericType, (values: number[]) => HostTensor['data']> = {
  float32: (v) => Float32Array.from(v),
  float64: (v) => Float64Array.from(v),
  int8: (v) => Int8Array.from(v),
  uint8: (v) => Uint8Array.from(v),
  int16: (v) => Int16Array.from(v),
  uint16: (v) => Uint16Array.from(v),
  int32: (v) => Int32Array.from(v),
  uint32: (v) => Uint32Array.from(v),
  int64: (v) => BigInt64Array.from(v, (x) => BigInt(Math.trunc(x))),
  uint64: (v) => BigUint64Array.from(v, (x) => BigInt(Math.trunc(x))),
  bool: (v) => Uint8Array.from(v, (x) => (x ? 1 : 0)),
};

function inputInvalid(index: number, message: string, cause?: unknown): KilnError {
  return new KilnError('KILN_HANDLER_INPUT_INVALID', `request ${index}: ${message}`, { cause, details: { requestIndex: index } });
}

/**
 * The input key under which a transport hands over tensors it has already decoded (the Open
 * Inference Protocol routes): `{[DECODED_TENSORS]: {NAME: HostTensor}}`. An HTTP body or a
 * multipart field never arrives as an object of host tensors, so it cannot be mistaken for one.
 */
export const DECODED_TENSORS = 'kiln.tensors';

function decodedTensors(value: unknown): TensorFeeds | undefined {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return undefined;
  const tensors = Object.values(value);
  const isTensor = (t: unknown) =>
    typeof t === 'object' && t !== null && typeof (t as HostTensor).type === 'string' && Array.isArray((t as HostTensor).dims) && (ArrayBuffer.isView((t as HostTensor).data) || Array.isArray((t as HostTensor).data));
  return tensors.length > 0 && tensors.every(isTensor) ? (value as TensorFeeds) : undefined;
}

/**
 * Decodes one request into feeds and checks them against the model's inputs. Tensors already
 * decoded by a transport ({@link DECODED_TENSORS}) are only checked. Otherwise the body (`body`,
 * else the multipart field `data`) is read as `.npy` when it starts with the `.npy` magic or is
 * sent as `application/x-npy`, and as JSON otherwise. A `.npy` array of float64 (NumPy's default
 * dtype) is narrowed to float32 when the model's input is float32.
 * @throws KilnError `KILN_HANDLER_INPUT_INVALID` naming the request and what is wrong.
 */
export function decodeTensorRequest(input: RequestInput, index: number, inputs: readonly TensorSignature[], contentType: string | undefined): TensorFeeds {
  const decoded = decodedTensors(input[DECODED_TENSORS]);
  if (decoded) {
    checkFeeds(decoded, index, inputs);
    return decoded;
  }
  const value: unknown = input['body'] ?? input['data'] ?? input;
  const media = (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
  const feeds = value instanceof Uint8Array && (media === NPY_MEDIA_TYPE || isNpy(value)) ? npyFeeds(value, index, inputs) : jsonFeeds(value, index, inputs);
  checkFeeds(feeds, index, inputs);
  return feeds;
}

function npyFeeds(bytes: Uint8Array, index: number, inputs: readonly TensorSignature[]): TensorFeeds {
  if (inputs.length !== 1) {
    const names = inputs.map((input) => input.name).join(', ');
    throw inputInvalid(index, `a .npy body feeds a model with one input; this one has ${inputs.length} (${names}): send JSON {"inputs": {NAME: ...}}`);
  }
  const input = inputs[0]!;
  const tensor = parseNpy(bytes, { name: `request ${index} (.npy body)`, code: 'KILN_HANDLER_INPUT_INVALID', details: { requestIndex: index }, view: true });
  const narrowed = tensor.type === 'float64' && input.type === 'float32' ? { type: 'float32' as const, dims: tensor.dims, data: Float32Array.from(tensor.data as Float64Array) } : tensor;
  return { [input.name]: narrowed };
}

function jsonFeeds(body: unknown, index: number, inputs: readonly TensorSignature[]): TensorFeeds {
  let value = body;
  if (value instanceof Uint8Array) value = new TextDecoder().decode(value);
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch (error) {
      throw inputInvalid(index, 'body is not JSON (nor a .npy file)', error);
    }
  }
  const parsed = RequestJson.safeParse(value);
  if (!parsed.success) {
    throw inputInvalid(index, `expected {"inputs": {NAME: {"dims": [...], "type": "float32", "data": [...]}}}: ${describeIssue(parsed.error, { root: 'the body' })}`);
  }
  const feeds: TensorFeeds = {};
  for (const [name, tensor] of Object.entries(parsed.data.inputs)) {
    const declared = inputs.find((input) => input.name === name)?.type;
    const type = tensor.type ?? (declared && declared in ARRAYS ? (declared as NumericType) : 'float32');
    const count = tensor.dims.reduce((a, b) => a * b, 1);
    if (count !== tensor.data.length) throw inputInvalid(index, `input '${name}' has ${tensor.data.length} values for dims [${tensor.dims.join(', ')}]`);
    feeds[name] = { type, dims: tensor.dims, data: ARRAYS[type](tensor.data.map(Number)) };
  }
  return feeds;
}

/** The model's own check (names, types, ranks, fixed dims), per request, so the 400 names the request. */
function checkFeeds(feeds: TensorFeeds, index: number, inputs: readonly TensorSignature[]): void {
  const problems = feedProblems(inputs, feeds);
  if (problems.length > 0) throw inputInvalid(index, problems.join('; '));
}
