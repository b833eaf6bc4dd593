/**
 * Batching for the `tensor` handler: requests whose tensors agree on everything but axis 0 are
 * concatenated along axis 0 into one run, and the outputs are cut back into one slice per request
 * by the rows each request brought. Pure functions over host tensors, no engine.
 */
import type { TensorSignature } from '../runtime/feeds.js';
import type { HostTensor } from '../runtime/tensors.js';
import type { TensorFeeds } from './tensor-request.js';

/**
 * True when the model can take requests stacked along axis 0: every input and every output has a
 * dynamic (not fixed) first axis, as a model exported with a dynamic batch axis has. An output of
 * unknown rank passes here and is checked after the run by {@link splitRows}.
 */
export function hasBatchAxis(inputs: readonly TensorSignature[], outputs: readonly TensorSignature[]): boolean {
  return inputs.every((input) => input.shape.length > 0 && typeof input.shape[0] !== 'number') && outputs.every((output) => typeof output.shape[0] !== 'number');
}

/**
 * Groups request indices that can run as one: same input names, types and dims past axis 0, and
 * one row count shared by all of a request's inputs (else the request runs alone). Groups keep
 * the order of their first request; indices within a group stay in request order.
 * @example groupStackable([{x: [1,3]}, {x: [2,3]}, {x: [1,4]}]) // [[0, 1], [2]] (dims shown only)
 */
export function groupStackable(requests: readonly TensorFeeds[]): number[][] {
  const groups = new Map<string, number[]>();
  requests.forEach((feeds, index) => {
    const groupKey = stackKey(feeds) ?? `alone:${index}`;
    const group = groups.get(groupKey);
    if (group) group.push(index);
    else groups.set(groupKey, [index]);
  });
  return [...groups.values()];
}

function stackKey(feeds: TensorFeeds): string | undefined {
  const names = Object.keys(feeds).sort();
  const rows = new Set(names.map((name) => feeds[name]!.dims[0]));
  if (names.length === 0 || rows.size !== 1 || feeds[names[0]!]!.dims.length === 0) return undefined;
  return JSON.stringify(names.map((name) => [name, feeds[name]!.type, feeds[name]!.dims.slice(1)]));
}

/** Rows (axis 0) one request's feeds bring; {@link groupStackable} made them agree. */
export function rowsOf(feeds: TensorFeeds): number {
  return Object.values(feeds)[0]?.dims[0] ?? 0;
}

/**
 * Reusable memory for stacked inputs, one ArrayBuffer per input name, grown when a batch needs
 * more. A worker runs one batch at a time and onnxruntime holds no reference to an input after
 * `run` returns, so each batch can write over the previous one's: the stacked tensors do not
 * become garbage every batch (about 0.9 MB for 8 requests of [1,3,48,192] float32).
 */
export type StackScratch = Map<string, ArrayBuffer>;

/**
 * The requests' feeds concatenated along axis 0, one tensor per input name: one copy of the data,
 * into `scratch` when given (the result is then valid only until the next call with it).
 */
export function stackFeeds(requests: readonly TensorFeeds[], scratch?: StackScratch): TensorFeeds {
  if (requests.length === 1) return requests[0]!;
  const stacked: TensorFeeds = {};
  for (const name of Object.keys(requests[0]!)) stacked[name] = concatRows(requests.map((feeds) => feeds[name]!), name, scratch);
  return stacked;
}

type TypedData = Exclude<HostTensor['data'], string[]>;

function concatRows(tensors: readonly HostTensor[], name: string, scratch: StackScratch | undefined): HostTensor {
  const first = tensors[0]!;
  const rows = tensors.reduce((total, tensor) => total + tensor.dims[0]!, 0);
  const dims = [rows, ...first.dims.slice(1)];
  if (Array.isArray(first.data)) return { type: first.type, dims, data: tensors.flatMap((tensor) => tensor.data as string[]) };
  const length = tensors.reduce((total, tensor) => total + tensor.data.length, 0);
  const Typed = first.data.constructor as { new (length: number): TypedData; new (buffer: ArrayBuffer, offset: number, length: number): TypedData; BYTES_PER_ELEMENT: number };
  let data: TypedData;
  if (scratch) {
    let buffer = scratch.get(name);
    const bytes = length * Typed.BYTES_PER_ELEMENT;
    if (!buffer || buffer.byteLength < bytes) scratch.set(name, (buffer = new ArrayBuffer(bytes)));
    data = new Typed(buffer, 0, length);
  } else {
    data = new Typed(length);
  }
  let offset = 0;
  for (const tensor of tensors) {
    data.set(tensor.data as never, offset);
    offset += tensor.data.length;
  }
  return { type: first.type, dims, data };
}

/**
 * Cuts each output along axis 0 into one slice per request, `rows[i]` rows for request i (views,
 * no copy). Undefined when an output does not have exactly the stacked rows on axis 0 (a model
 * whose dynamic first axis is not a batch axis): the caller then runs the requests one by one.
 */
export function splitRows(outputs: Readonly<TensorFeeds>, rows: readonly number[]): TensorFeeds[] | undefined {
  const total = rows.reduce((sum, count) => sum + count, 0);
  const tensors = Object.entries(outputs);
  if (tensors.some(([, tensor]) => tensor.dims[0] !== total)) return undefined;
  const results: TensorFeeds[] = rows.map(() => ({}));
  for (const [name, tensor] of tensors) {
    const perRow = total === 0 ? 0 : tensor.data.length / total;
    let start = 0;
    rows.forEach((count, index) => {
      const end = start + count * perRow;
      const data = Array.isArray(tensor.data) ? tensor.data.slice(start, end) : tensor.data.subarray(start, end);
      results[index]![name] = { type: tensor.type, dims: [count, ...tensor.dims.slice(1)], data };
      start = end;
    });
  }
  return results;
}
