import type * as Ort from 'onnxruntime-node';
import { ort } from './ort.js';

/** Element types a host tensor can carry (onnxruntime's names). */
export type HostTensorType = Ort.Tensor.Type;

/**
 * A tensor on the host, independent of onnxruntime: what kiln passes between layers.
 * `data` follows onnxruntime-node's storage (float16 as raw Uint16Array bits, bool as Uint8Array).
 */
export interface HostTensor {
  readonly type: HostTensorType;
  readonly dims: readonly number[];
  readonly data: Ort.Tensor.DataType;
}

/** Wraps a host tensor for onnxruntime (no copy). */
export function toOrtTensor(tensor: HostTensor): Ort.Tensor {
  return new ort.Tensor(tensor.type, tensor.data as never, tensor.dims);
}

/** Unwraps an onnxruntime output into a host tensor (no copy). */
export function fromOrtTensor(tensor: Ort.Tensor): HostTensor {
  return { type: tensor.type, dims: [...tensor.dims], data: tensor.data };
}

/** Builds a host tensor, checking that `data` fills `dims`. */
export function hostTensor(type: HostTensorType, dims: readonly number[], data: Ort.Tensor.DataType): HostTensor {
  const count = dims.reduce((product, dim) => product * dim, 1);
  const perElement = type === 'int4' || type === 'uint4' ? 0.5 : 1;
  if (data.length !== Math.ceil(count * perElement)) {
    throw new RangeError(`${data.length} values do not fill a ${type} tensor of shape [${dims.join(', ')}]`);
  }
  return { type, dims: [...dims], data };
}
