import { KilnError } from '../core/errors.js';
import type { Engine } from '../runtime/engine.js';
import { makeFeeds } from '../runtime/feeds.js';
import type { HostTensor } from '../runtime/tensors.js';
import type { Feeds } from '../quantize/data/types.js';

type TypedArray = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

/** `tensor` (batch 1) repeated `batch` times along axis 0. */
function repeatRows(tensor: HostTensor, batch: number): HostTensor {
  const data = tensor.data as TypedArray;
  const out = new (data.constructor as new (length: number) => TypedArray)(data.length * batch);
  for (let row = 0; row < batch; row++) (out as Float32Array).set(data as Float32Array, row * data.length);
  return { type: tensor.type, dims: [batch, ...tensor.dims.slice(1)], data: out as HostTensor['data'] };
}

/**
 * Feeds of one batch size for latency: the first data sample repeated along the batch axis (so
 * every model is timed on real input shapes), or seeded random inputs without data.
 * @returns the feeds, or the reason this batch cannot be run on this model
 */
export function latencyFeeds(engine: Engine, sample: Feeds | undefined, batch: number): Feeds | string {
  for (const input of engine.inputs) {
    const fixed = input.shape[0];
    if (typeof fixed === 'number' && fixed >= 0 && fixed !== batch) return `batch ${batch}: input '${input.name}' has a fixed batch of ${fixed}`;
  }
  if (!sample) {
    try {
      return makeFeeds(engine.inputs, { batch, label: engine.label });
    } catch (error) {
      if (error instanceof KilnError) return `batch ${batch}: ${error.message} (give --data to time it on real inputs)`;
      throw error;
    }
  }
  const feeds: Record<string, HostTensor> = {};
  for (const [name, tensor] of Object.entries(sample)) {
    if (tensor.dims[0] !== 1) return `batch ${batch}: the data's samples have batch ${tensor.dims[0]}, not 1`;
    feeds[name] = batch === 1 ? tensor : repeatRows(tensor, batch);
  }
  return feeds;
}

/** The input an image or flat `.npy` folder feeds when the caller names none: the model's only one. */
export function defaultInput(engine: Engine): string | undefined {
  return engine.inputs.length === 1 ? engine.inputs[0]!.name : undefined;
}
