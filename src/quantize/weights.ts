import { computeQuantParams, quantizeValue, roundHalfEven, type QuantParams, type QuantRange } from './math.js';

/** An int8 weight with its scales and zero points (one each per channel, or one for the tensor). */
export interface QuantizedWeight {
  readonly data: Int8Array;
  readonly scales: Float32Array;
  readonly zeroPoints: Int8Array;
  /** Channel axis, or undefined for per-tensor. */
  readonly axis: number | undefined;
}

const INT32_MAX = 2 ** 31 - 1;

/** Sizes around a channel axis: values are laid out as [outer, channels, inner]. */
function axisLayout(dims: readonly number[], axis: number | undefined): { outer: number; channels: number; inner: number } {
  if (axis === undefined) return { outer: 1, channels: 1, inner: dims.reduce((a, b) => a * b, 1) };
  const product = (list: readonly number[]) => list.reduce((a, b) => a * b, 1);
  return { outer: product(dims.slice(0, axis)), channels: dims[axis]!, inner: product(dims.slice(axis + 1)) };
}

/**
 * Quantizes a float weight symmetrically (zero point 0), per channel along `axis` or per tensor.
 * `minScales` widens a channel's scale where its int32 bias would otherwise overflow (spec §3).
 */
export function quantizeWeight(
  values: Float32Array,
  dims: readonly number[],
  axis: number | undefined,
  range: QuantRange,
  minScales?: Float64Array,
): QuantizedWeight {
  const { outer, channels, inner } = axisLayout(dims, axis);
  const params: QuantParams[] = [];
  for (let channel = 0; channel < channels; channel++) {
    let low = Infinity;
    let high = -Infinity;
    for (let o = 0; o < outer; o++) {
      const start = (o * channels + channel) * inner;
      for (let i = start; i < start + inner; i++) {
        const value = values[i]!;
        if (value < low) low = value;
        if (value > high) high = value;
      }
    }
    let channelParams = computeQuantParams(low === Infinity ? 0 : low, high === -Infinity ? 0 : high, range, true);
    const needed = minScales?.[channel];
    if (needed !== undefined && channelParams.scale < needed) channelParams = { scale: Math.fround(needed), zeroPoint: 0 };
    params.push(channelParams);
  }
  const data = new Int8Array(values.length);
  for (let o = 0; o < outer; o++) {
    for (let channel = 0; channel < channels; channel++) {
      const start = (o * channels + channel) * inner;
      const channelParams = params[channel]!;
      for (let i = start; i < start + inner; i++) data[i] = quantizeValue(values[i]!, channelParams, range);
    }
  }
  return {
    data,
    scales: Float32Array.from(params, (p) => p.scale),
    zeroPoints: Int8Array.from(params, (p) => p.zeroPoint),
    axis,
  };
}

/**
 * The smallest weight scale per channel that keeps `bias / (inputScale × weightScale)` inside
 * int32 (dead BatchNorm channels have tiny weights and a normal bias). The margin covers the
 * float32 rounding of the product.
 */
export function minimumWeightScales(bias: Float32Array, inputScale: number): Float64Array {
  return Float64Array.from(bias, (value) => (Math.abs(value) / (inputScale * INT32_MAX)) * (1 + 1e-6));
}

/** An int32 bias with its per-channel scale = float32(inputScale × weightScale[c]). */
export interface QuantizedBias {
  readonly data: Int32Array;
  readonly scales: Float32Array;
  /** Channels whose value had to be clipped to int32 (after widening this should be none). */
  readonly clipped: number;
}

/** Quantizes a bias to int32 (spec §3): float64 division, half-to-even rounding, int32 clip. */
export function quantizeBias(bias: Float32Array, inputScale: number, weightScales: Float32Array): QuantizedBias {
  const perChannel = weightScales.length > 1;
  const scales = Float32Array.from(bias, (_, channel) => Math.fround(inputScale * weightScales[perChannel ? channel : 0]!));
  let clipped = 0;
  const data = Int32Array.from(bias, (value, channel) => {
    const scale = scales[channel]!;
    const q = roundHalfEven(value / scale);
    if (q > INT32_MAX || q < -INT32_MAX - 1) {
      clipped++;
      return q > 0 ? INT32_MAX : -INT32_MAX - 1;
    }
    return q;
  });
  return { data, scales: perChannel ? scales : scales.subarray(0, 1).slice(), clipped };
}

/** SQNR in dB of a quantized weight against its float values (Infinity when exact). */
export function weightSqnrDb(values: Float32Array, dims: readonly number[], weight: QuantizedWeight): number {
  const { outer, channels, inner } = axisLayout(dims, weight.axis);
  let signal = 0;
  let noise = 0;
  for (let o = 0; o < outer; o++) {
    for (let channel = 0; channel < channels; channel++) {
      const scale = weight.scales[channel]!;
      const start = (o * channels + channel) * inner;
      for (let i = start; i < start + inner; i++) {
        const value = values[i]!;
        const error = value - Math.fround(weight.data[i]! * scale);
        signal += value * value;
        noise += error * error;
      }
    }
  }
  return noise === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10(signal / noise);
}
