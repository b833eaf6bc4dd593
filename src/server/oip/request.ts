/**
 * Decodes an Open Inference Protocol v2 REST inference request (spec §4, §5, §8): the JSON body,
 * or a JSON header followed by binary tensor data, into host tensors checked against the model's
 * signature. Pure: no I/O. Every problem is a `KILN_OIP_REQUEST_INVALID` (400) naming the tensor.
 */
import { z } from 'zod';
import { KilnError } from '../../core/errors.js';
import type { HostTensor } from '../../runtime/tensors.js';
import type { SignatureEntry } from '../../onnx/summary.js';
import type { ModelSignature } from '../../serving/model-signature.js';
import { dataFromBytes, dataFromJson, elementBytes, hostTypeOf, isOipDatatype, oipDatatypeOf, stringsFromBytes, type OipDatatype } from './datatypes.js';

/** One output the response must carry, and how. */
export interface RequestedOutput {
  readonly name: string;
  /** Send its bytes after the JSON part (binary extension) instead of as JSON `data`. */
  readonly binary: boolean;
  /** Classification extension: return the top K elements per row as BYTES. */
  readonly classification?: number;
}

/** The model's tensors a request is checked against (serving reads them from the ONNX file). */
export type { ModelSignature };

/** A decoded, validated inference request. */
export interface InferRequest {
  readonly id?: string;
  readonly parameters: Readonly<Record<string, unknown>>;
  /** Input tensors by name, in request order, already checked against the model's inputs. */
  readonly inputs: Readonly<Record<string, HostTensor>>;
  /** The outputs to return, in order: the requested ones, or every model output (binary per binary_data_output) when `outputs` was absent. */
  readonly outputs: readonly RequestedOutput[];
}

// Parameter values are string | number | boolean (spec §6); the keys kiln reads are checked below.
const Parameters = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));
const RequestJson = z.object({
  id: z.string().optional(),
  parameters: Parameters.optional(),
  inputs: z.array(
    z.object({
      name: z.string(),
      shape: z.array(z.number().int().nonnegative()),
      datatype: z.string(),
      parameters: Parameters.optional(),
      data: z.unknown().optional(),
    }),
  ),
  outputs: z.array(z.object({ name: z.string(), parameters: Parameters.optional() })).optional(),
});
type InputJson = z.infer<typeof RequestJson>['inputs'][number];

function invalid(message: string, cause?: unknown): KilnError {
  return new KilnError('KILN_OIP_REQUEST_INVALID', message, cause === undefined ? {} : { cause });
}

const dimsText = (dims: readonly (number | string | null)[]): string => `[${dims.map((dim) => (typeof dim === 'number' && dim >= 0 ? dim : -1)).join(', ')}]`;
const product = (dims: readonly number[]): number => dims.reduce((total, dim) => total * dim, 1);

/** The binary section still to be consumed, in input order (spec §8). */
interface BinaryCursor {
  readonly bytes: Uint8Array;
  at: number;
}

/**
 * Decodes and validates an inference request against the model's signature.
 * @param body the raw HTTP body.
 * @param headerLength the `Inference-Header-Content-Length` header when sent: the body's first N
 *   bytes are JSON and the rest is tensor data, taken in input order by `binary_data_size`.
 * @throws KilnError `KILN_OIP_REQUEST_INVALID` saying precisely what is wrong.
 * @example decodeInferRequest(body, req.headers['inference-header-content-length'], { inputs, outputs })
 */
export function decodeInferRequest(body: Uint8Array, headerLength: string | undefined, signature: ModelSignature): InferRequest {
  const jsonLength = headerLength === undefined ? body.length : parseHeaderLength(headerLength, body.length);
  if (headerLength !== undefined && jsonLength === 0) return decodeRawRequest(body, signature);
  const request = parseJson(body.subarray(0, jsonLength));
  const binary: BinaryCursor | undefined = headerLength === undefined ? undefined : { bytes: body.subarray(jsonLength), at: 0 };
  const entries = new Map(signature.inputs.map((entry) => [entry.name, entry]));
  const inputs: [string, HostTensor][] = [];
  for (const input of request.inputs) {
    const entry = entries.get(input.name);
    if (!entry) throw invalid(`unknown input '${input.name}' (the model's inputs: ${signature.inputs.map((e) => e.name).join(', ') || 'none'})`);
    if (inputs.some(([name]) => name === input.name)) throw invalid(`input '${input.name}' is given twice`);
    inputs.push([input.name, decodeInput(input, entry, binary)]);
  }
  const missing = signature.inputs.filter((entry) => !inputs.some(([name]) => name === entry.name));
  if (missing.length > 0) throw invalid(`missing model input${missing.length > 1 ? 's' : ''} ${missing.map((entry) => `'${entry.name}'`).join(', ')}`);
  if (binary && binary.at < binary.bytes.length) {
    throw invalid(`${binary.bytes.length - binary.at} bytes left over after the last binary input (the binary section has ${binary.bytes.length})`);
  }
  const parameters = request.parameters ?? {};
  const binaryDefault = booleanParameter(parameters, 'binary_data_output', 'the request') ?? false;
  return {
    ...(request.id === undefined ? {} : { id: request.id }),
    parameters,
    inputs: Object.fromEntries(inputs),
    outputs: requestedOutputs(request.outputs, signature, binaryDefault),
  };
}

function parseHeaderLength(value: string, bodyLength: number): number {
  const text = value.trim();
  if (!/^\d+$/.test(text)) throw invalid(`Inference-Header-Content-Length '${value}' is not a non-negative integer`);
  const length = Number(text);
  if (length > bodyLength) throw invalid(`Inference-Header-Content-Length ${length} is larger than the body (${bodyLength} bytes)`);
  return length;
}

function parseJson(bytes: Uint8Array): z.infer<typeof RequestJson> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw invalid(`the request is not valid JSON: ${error instanceof Error ? error.message : String(error)}`, error);
  }
  const parsed = RequestJson.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`)).join('').replace(/^\./, '');
    throw invalid(`request ${path || 'body'}: ${issue.message}`);
  }
  return parsed.data;
}

function booleanParameter(parameters: Readonly<Record<string, unknown>>, key: string, owner: string): boolean | undefined {
  const value = parameters[key];
  if (value !== undefined && typeof value !== 'boolean') throw invalid(`${owner}: parameters.${key} must be a boolean, not ${JSON.stringify(value)}`);
  return value as boolean | undefined;
}

function decodeInput(input: InputJson, entry: SignatureEntry, binary: BinaryCursor | undefined): HostTensor {
  const label = `input '${input.name}'`;
  if (!isOipDatatype(input.datatype)) throw invalid(`${label}: '${input.datatype}' is not an OIP datatype`);
  const expected = oipDatatypeOf(entry.type);
  if (!expected) throw invalid(`${label}: the model's type ${entry.type} has no OIP datatype`);
  if (input.datatype !== expected) throw invalid(`${label}: datatype ${input.datatype} does not match the model's ${expected}`);
  checkShape(label, input.shape, entry.shape);
  const count = product(input.shape);
  const size = input.parameters?.['binary_data_size'];
  if (size === undefined) {
    if (input.data === undefined) throw invalid(`${label}: has neither data nor parameters.binary_data_size`);
    if (!Array.isArray(input.data)) throw invalid(`${label}: data must be an array`);
    const values = flatten(input.data);
    if (values.length !== count) throw invalid(`${label}: ${values.length} values for shape [${input.shape.join(', ')}] (${count} expected)`);
    return { type: hostTypeOf(expected), dims: input.shape, data: dataFromJson(expected, values, label) };
  }
  if (input.data !== undefined) throw invalid(`${label}: has both data and parameters.binary_data_size`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(`${label}: parameters.binary_data_size must be a non-negative integer, not ${JSON.stringify(size)}`);
  if (!binary) throw invalid(`${label}: parameters.binary_data_size is set but the Inference-Header-Content-Length header is missing`);
  const left = binary.bytes.length - binary.at;
  if (size > left) throw invalid(`${label}: binary_data_size ${size} but only ${left} bytes are left in the body`);
  const bytes = binary.bytes.subarray(binary.at, binary.at + size);
  binary.at += size;
  return { type: hostTypeOf(expected), dims: input.shape, data: dataFromBinary(expected, bytes, input.shape, label) };
}

/** A null shape takes any rank; symbolic, unknown or negative dims take any size. */
function checkShape(label: string, dims: readonly number[], model: SignatureEntry['shape']): void {
  if (model === null) return;
  if (dims.length !== model.length) throw invalid(`${label}: shape [${dims.join(', ')}] has rank ${dims.length}; the model expects rank ${model.length} (${dimsText(model)})`);
  model.forEach((dim, axis) => {
    if (typeof dim === 'number' && dim >= 0 && dims[axis] !== dim) {
      throw invalid(`${label}: shape [${dims.join(', ')}] has ${dims[axis]} at axis ${axis}; the model expects ${dim} (${dimsText(model)})`);
    }
  });
}

/** Nested `data` means the same row-major elements as flat `data` (spec §5); no stack recursion. */
function flatten(data: readonly unknown[]): unknown[] {
  const out: unknown[] = [];
  const stack: { items: readonly unknown[]; at: number }[] = [{ items: data, at: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.at === top.items.length) {
      stack.pop();
      continue;
    }
    const item = top.items[top.at++];
    if (Array.isArray(item)) stack.push({ items: item, at: 0 });
    else out.push(item);
  }
  return out;
}

function dataFromBinary(datatype: OipDatatype, bytes: Uint8Array, dims: readonly number[], label: string): HostTensor['data'] {
  const count = product(dims);
  if (datatype === 'BYTES') {
    const strings = stringsFromBytes(bytes, label);
    if (strings.length !== count) throw invalid(`${label}: ${strings.length} BYTES elements for shape [${dims.join(', ')}] (${count} expected)`);
    return strings;
  }
  const size = elementBytes(datatype)!;
  if (bytes.length !== count * size) throw invalid(`${label}: binary_data_size ${bytes.length} for ${count} ${datatype} elements (${count * size} bytes expected)`);
  const data = dataFromBytes(datatype, bytes);
  if (datatype === 'BOOL') {
    const bad = (data as Uint8Array).findIndex((value) => value > 1);
    if (bad >= 0) throw invalid(`${label}: BOOL element ${bad} is byte ${data[bad]}, not 0 or 1`);
  }
  return data;
}

function requestedOutputs(outputs: z.infer<typeof RequestJson>['outputs'], signature: ModelSignature, binaryDefault: boolean): RequestedOutput[] {
  // An empty list asks for nothing in particular, like an absent one (Triton does the same).
  if (!outputs || outputs.length === 0) return signature.outputs.map((entry) => ({ name: entry.name, binary: binaryDefault }));
  const known = new Set(signature.outputs.map((entry) => entry.name));
  const seen = new Set<string>();
  return outputs.map((output) => {
    const label = `output '${output.name}'`;
    if (!known.has(output.name)) throw invalid(`unknown ${label} (the model's outputs: ${[...known].join(', ') || 'none'})`);
    if (seen.has(output.name)) throw invalid(`${label} is requested twice`);
    seen.add(output.name);
    const parameters = output.parameters ?? {};
    const binary = booleanParameter(parameters, 'binary_data', label) ?? binaryDefault;
    const classification = parameters['classification'];
    if (classification === undefined) return { name: output.name, binary };
    if (typeof classification !== 'number' || !Number.isSafeInteger(classification) || classification < 1) {
      throw invalid(`${label}: parameters.classification must be a positive integer, not ${JSON.stringify(classification)}`);
    }
    return { name: output.name, binary, classification };
  });
}

/**
 * Triton's raw binary request (`Inference-Header-Content-Length: 0`): the whole body is the data
 * of the model's only input, of batch 1, and every output comes back binary. The one variable
 * dimension (if any) is what the byte count makes it. BYTES is refused: its framing is unclear.
 */
function decodeRawRequest(body: Uint8Array, signature: ModelSignature): InferRequest {
  const only = signature.inputs.length === 1 ? signature.inputs[0]! : undefined;
  if (!only) throw invalid(`a raw binary request (Inference-Header-Content-Length: 0) needs a model with one input; this one has ${signature.inputs.length}`);
  const label = `input '${only.name}'`;
  const datatype = oipDatatypeOf(only.type);
  if (!datatype || datatype === 'BYTES') throw invalid(`${label}: a raw binary request cannot carry type ${only.type}; send a JSON header`);
  if (only.shape === null) throw invalid(`${label}: a raw binary request needs a model input of known rank; send a JSON header`);
  const variable = only.shape.filter((dim) => typeof dim !== 'number' || dim < 0).length;
  if (variable > 1) throw invalid(`${label}: a raw binary request allows at most one variable dimension, the model has ${variable} (${dimsText(only.shape)})`);
  const fixedBytes = product(only.shape.map((dim) => (typeof dim === 'number' && dim >= 0 ? dim : 1))) * elementBytes(datatype)!;
  const free = variable === 1 && fixedBytes > 0 ? body.length / fixedBytes : 1;
  if (!Number.isInteger(free) || free * fixedBytes !== body.length) {
    throw invalid(`${label}: a raw body of ${body.length} bytes does not fill shape ${dimsText(only.shape)} of ${datatype}`);
  }
  const dims = only.shape.map((dim) => (typeof dim === 'number' && dim >= 0 ? dim : free));
  return {
    parameters: {},
    inputs: { [only.name]: { type: hostTypeOf(datatype), dims, data: dataFromBinary(datatype, body, dims, label) } },
    outputs: signature.outputs.map((entry) => ({ name: entry.name, binary: true })),
  };
}
