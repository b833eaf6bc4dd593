/**
 * The affine integer mapping, reproduced exactly as ONNX Runtime's quantizer computes it
 * (spec §1): float64 arithmetic, ranges widened to contain 0, round half to even, and the scale
 * stored as float32 only at the end. Everything else in the quantizer goes through these.
 */

/** Integer element types kiln emits. */
export type QuantType = 'uint8' | 'int8';

/** Integer range of a quantized tensor. */
export interface QuantRange {
  readonly qmin: number;
  readonly qmax: number;
}

/** Scale (float32-representable) and zero point of one tensor or one channel. */
export interface QuantParams {
  readonly scale: number;
  readonly zeroPoint: number;
}

/** float32's smallest normal number: scales below it become 1 (a constant-zero tensor). */
const FLOAT32_TINY = 1.1754943508222875e-38;

/** Rounds to the nearest integer, ties to even (ONNX QuantizeLinear); `Math.round` rounds ties up. */
export function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * The integer range for a type: activations use the full range; symmetric weights drop the
 * lowest int8 value so the grid is symmetric about zero (−127…127); `reduceRange` gives 7-bit
 * weights that cannot saturate VPMADDUBSW on CPUs without VNNI.
 */
export function quantRange(type: QuantType, options: { symmetric?: boolean; reduceRange?: boolean } = {}): QuantRange {
  if (type === 'uint8') return options.reduceRange ? { qmin: 0, qmax: 127 } : { qmin: 0, qmax: 255 };
  if (options.reduceRange) return { qmin: -64, qmax: 64 };
  return options.symmetric ? { qmin: -127, qmax: 127 } : { qmin: -128, qmax: 127 };
}

/**
 * Scale and zero point for a real range [rmin, rmax] (ORT `compute_scale_zp`): the range is
 * widened to contain 0, made symmetric on request, and a degenerate range gives scale 1, zp 0.
 * @param minRealRange optional minimum width of the range (ORT's `MinimumRealRange`)
 */
export function computeQuantParams(
  rmin: number,
  rmax: number,
  range: QuantRange,
  symmetric: boolean,
  minRealRange?: number,
): QuantParams {
  let low = Math.min(rmin, 0);
  let high = Math.max(rmax, 0);
  if (minRealRange !== undefined) high = Math.max(high, low + minRealRange);
  if (symmetric) {
    const absMax = Math.max(Math.abs(low), Math.abs(high));
    low = -absMax;
    high = absMax;
  }
  const { qmin, qmax } = range;
  const scale = (high - low) / (qmax - qmin);
  if (!(scale >= FLOAT32_TINY)) return { scale: 1, zeroPoint: 0 };
  const zeroPoint = symmetric ? roundHalfEven((qmin + qmax) / 2) : roundHalfEven(qmin - low / scale);
  return { scale: Math.fround(scale), zeroPoint: clamp(zeroPoint, qmin, qmax) };
}

function clamp(value: number, low: number, high: number): number {
  return value < low ? low : value > high ? high : value;
}

/**
 * Quantizes one float32 value as ONNX QuantizeLinear does: the float32 quotient, rounded half to
 * even, plus the zero point, saturated to `range`.
 */
export function quantizeValue(value: number, params: QuantParams, range: QuantRange): number {
  const q = roundHalfEven(Math.fround(Math.fround(value) / params.scale)) + params.zeroPoint;
  return clamp(q, range.qmin, range.qmax);
}

/** `(q − zp) × scale` as DequantizeLinear computes it (float32). */
export function dequantizeValue(q: number, params: QuantParams): number {
  return Math.fround((q - params.zeroPoint) * params.scale);
}
