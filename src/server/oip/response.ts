/**
 * Encodes an Open Inference Protocol v2 REST inference response (spec §4, §8, §9): plain JSON, or
 * a JSON part followed by binary tensor data when any output was asked for as binary, with the
 * classification extension's top-K strings. Pure: no I/O.
 */
import { KilnError } from '../../core/errors.js';
import type { HostTensor } from '../../runtime/tensors.js';
import { dataToBytes, dataToJson, halfToNumber, oipDatatypeOf, stringsToBytes, type OipDatatype } from './datatypes.js';
import type { RequestedOutput } from './request.js';

/** What the route sends: the body and the headers that describe it. */
export interface EncodedResponse {
  readonly body: Uint8Array;
  /** Lower-case header names: `content-type`, and `inference-header-content-length` for binary. */
  readonly headers: Readonly<Record<string, string>>;
}

/** What one inference produced, and how the request asked to receive it. */
export interface InferResponseInit {
  readonly modelName: string;
  readonly modelVersion: string;
  /** The request's id, echoed unchanged; absent means no `id` field. */
  readonly id?: string;
  /** From `InferRequest.outputs`: which outputs, in which order, binary or not. */
  readonly outputs: readonly RequestedOutput[];
  /** Every tensor the model produced, by name. */
  readonly results: Readonly<Record<string, HostTensor>>;
  /** Class labels by index (`index_to_name.json`), for classification strings. */
  readonly labels?: Readonly<Record<string, string>>;
}

interface OutputJson {
  name: string;
  datatype: OipDatatype;
  shape: number[];
  parameters?: { binary_data_size: number };
  data?: unknown[];
}

function invalid(message: string): KilnError {
  return new KilnError('KILN_OIP_REQUEST_INVALID', message);
}

/**
 * Encodes the response for the requested outputs, in their order. With no binary output the body
 * is JSON; otherwise it is the §8 layout: JSON part, then each binary output's bytes in order.
 * @throws KilnError `KILN_OIP_REQUEST_INVALID` when a requested output is not among the results,
 *   has a type OIP cannot carry, or holds NaN/Infinity and was not requested as binary.
 * @example encodeInferResponse({ modelName: 'm', modelVersion: '1.0', outputs: request.outputs, results })
 */
export function encodeInferResponse(init: InferResponseInit): EncodedResponse {
  const outputs: OutputJson[] = [];
  const tails: Uint8Array[] = [];
  for (const requested of init.outputs) {
    const label = `output '${requested.name}'`;
    if (!Object.hasOwn(init.results, requested.name)) {
      throw invalid(`${label} is not among the model's results (${Object.keys(init.results).join(', ') || 'none'})`);
    }
    const result = init.results[requested.name]!;
    const tensor = requested.classification === undefined ? result : classify(result, requested.classification, init.labels, label);
    const datatype = oipDatatypeOf(tensor.type);
    if (!datatype) throw invalid(`${label} has type ${tensor.type}, which OIP cannot carry`);
    const shape = [...tensor.dims];
    if (requested.binary) {
      const bytes = binaryOf(datatype, tensor.data);
      outputs.push({ name: requested.name, datatype, shape, parameters: { binary_data_size: bytes.length } });
      tails.push(bytes);
    } else {
      outputs.push({ name: requested.name, datatype, shape, data: dataToJson(datatype, tensor.data, label) });
    }
  }
  const json = new TextEncoder().encode(
    JSON.stringify({ model_name: init.modelName, model_version: init.modelVersion, ...(init.id === undefined ? {} : { id: init.id }), outputs }),
  );
  if (!init.outputs.some((output) => output.binary)) return { body: json, headers: { 'content-type': 'application/json' } };
  return {
    body: concat([json, ...tails]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(json.length) },
  };
}

function binaryOf(datatype: OipDatatype, data: HostTensor['data']): Uint8Array {
  if (datatype === 'BYTES') return stringsToBytes(data as string[]);
  // The wire's BOOL is exactly 0 or 1, whatever non-zero byte the engine used for true.
  if (datatype === 'BOOL') return Uint8Array.from(data as Uint8Array, (value) => (value ? 1 : 0));
  return dataToBytes(data as Exclude<HostTensor['data'], string[]>);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Element values as numbers for ranking; bigint values keep their exact digits for the text. */
function rankValues(tensor: HostTensor, label: string): { readonly ranks: readonly number[]; readonly text: (index: number) => string } {
  const data = tensor.data;
  if (Array.isArray(data)) throw invalid(`${label} is ${tensor.type}; classification needs a numeric output`);
  if (tensor.type === 'float16') {
    const ranks = Array.from(data as Uint16Array, halfToNumber);
    return { ranks, text: (index) => String(ranks[index]) };
  }
  const ranks = Array.from(data as ArrayLike<number | bigint>, Number);
  return { ranks, text: (index) => String(data[index]) };
}

/**
 * The classification extension (§9): the K largest elements of each row as BYTES
 * `"<value>:<index>[:<label>]"`, highest first, ties by lower index. Rows are the first axis of a
 * tensor of rank ≥ 2 (the rest flattened); rank 0 or 1 is one row and gives shape [K]. K is
 * capped at the row length, as Triton does. NaN ranks lowest, so it never hides a real class.
 */
function classify(tensor: HostTensor, k: number, labels: Readonly<Record<string, string>> | undefined, label: string): HostTensor {
  const { ranks, text } = rankValues(tensor, label);
  const rows = tensor.dims.length >= 2 ? tensor.dims[0]! : 1;
  const width = rows === 0 ? 0 : ranks.length / rows;
  const top = Math.min(k, width);
  const key = (index: number): number => (Number.isNaN(ranks[index]) ? -Infinity : ranks[index]!);
  const out: string[] = [];
  for (let row = 0; row < rows; row++) {
    const indices = Array.from({ length: width }, (_, column) => column);
    // Array.prototype.sort is stable, so equal values keep the lower index first.
    indices.sort((a, b) => key(row * width + b) - key(row * width + a) || 0);
    for (const column of indices.slice(0, top)) {
      const name = labels && Object.hasOwn(labels, String(column)) ? labels[String(column)] : undefined;
      out.push(`${text(row * width + column)}:${column}${name === undefined ? '' : `:${name}`}`);
    }
  }
  return { type: 'string', dims: tensor.dims.length >= 2 ? [rows, top] : [top], data: out };
}
