/**
 * The arithmetic of BatchNormalization folding (spec §8.3), in float64, stored as float32:
 * `k[c] = γ[c] / √(σ²[c] + ε)`, `W'[c, …] = W[c, …]·k[c]`, `b'[c] = (b[c] − μ[c])·k[c] + β[c]`.
 * One function per weight layout; the channel sits on a different axis in each.
 */

/** Per-channel factor and shift: y = k·x + shift, with shift = β − μ·k. */
export interface ChannelAffine {
  readonly k: Float64Array;
  readonly shift: Float64Array;
}

/** k and shift from BatchNormalization's parameters (all of length C). */
export function channelAffine(
  scale: ArrayLike<number>,
  bias: ArrayLike<number>,
  mean: ArrayLike<number>,
  variance: ArrayLike<number>,
  epsilon: number,
): ChannelAffine {
  const channels = scale.length;
  const k = new Float64Array(channels);
  const shift = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    k[c] = scale[c]! / Math.sqrt(variance[c]! + epsilon);
    shift[c] = bias[c]! - mean[c]! * k[c]!;
  }
  return { k, shift };
}

/** New bias b' = b·k + shift (b = 0 when absent), one per channel. */
export function foldedBias(affine: ChannelAffine, bias: ArrayLike<number> | undefined): Float32Array {
  return Float32Array.from(affine.k, (k, c) => (bias ? bias[c]! : 0) * k + affine.shift[c]!);
}

/**
 * Scales a weight whose output channel is axis 0 (Conv W [M, C/g, k…], Gemm B with transB
 * [N, K]): every element of row c is multiplied by k[c].
 */
export function scaleRows(weight: ArrayLike<number>, dims: readonly number[], k: Float64Array): Float32Array {
  const rowSize = weight.length / dims[0]!;
  return Float32Array.from(weight, (value, index) => value * k[Math.floor(index / rowSize)]!);
}

/** Scales a 2-D weight [K, N] by column (Gemm B without transB, MatMul B): W[:, n]·k[n]. */
export function scaleColumns(weight: ArrayLike<number>, dims: readonly number[], k: Float64Array): Float32Array {
  const columns = dims[1]!;
  return Float32Array.from(weight, (value, index) => value * k[index % columns]!);
}

/**
 * Scales a ConvTranspose weight [C_in, M/g, k…]: output channel o = g·(M/g) + j, where group g
 * holds input channels [g·C_in/g, (g+1)·C_in/g) and j is the index along axis 1.
 */
export function scaleTransposedConv(weight: ArrayLike<number>, dims: readonly number[], group: number, k: Float64Array): Float32Array {
  const inputChannels = dims[0]!;
  const perGroupOut = dims[1]!;
  const kernelSize = weight.length / (inputChannels * perGroupOut);
  const perGroupIn = inputChannels / group;
  return Float32Array.from(weight, (value, index) => {
    const c = Math.floor(index / (perGroupOut * kernelSize));
    const j = Math.floor(index / kernelSize) % perGroupOut;
    return value * k[Math.floor(c / perGroupIn) * perGroupOut + j]!;
  });
}
