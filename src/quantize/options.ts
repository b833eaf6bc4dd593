import { KilnError } from '../core/errors.js';
import type { CalibrationConfig, TensorRange } from './calibrate/types.js';
import { quantRange, type QuantRange, type QuantType } from './math.js';

/**
 * Integer types of activations and weights. U8S8 (uint8 asymmetric activations, int8 symmetric
 * weights) is what ONNX Runtime's x86 CPU kernels fuse; S8S8 fuses on ARM, or on x86 only with
 * the session entry `session.qdqisint8allowed=1` (spec §5).
 */
export type QuantScheme = 'U8S8' | 'S8S8';

/** What `quantizeModel` does; every default is in {@link QUANTIZE_DEFAULTS}. */
export interface QuantizeOptions {
  /** @defaultValue `'U8S8'` */
  readonly scheme?: QuantScheme;
  /** One weight scale per output channel (symmetric int8). @defaultValue true */
  readonly perChannel?: boolean;
  /** 7-bit weights (−64…64), safe from int16 saturation on CPUs without VNNI. @defaultValue false */
  readonly reduceRange?: boolean;
  /** Node names to leave in float. */
  readonly excludeNodes?: readonly string[];
  /** Op types to leave in float (e.g. `['Softmax']`). */
  readonly excludeOpTypes?: readonly string[];
  /** When set, only these op types are quantized. */
  readonly opTypes?: readonly string[];
  /** How activation ranges are estimated. @defaultValue MSE over a 2048-bin histogram */
  readonly calibration?: CalibrationConfig;
  /** Ranges to use instead of calibrating (a replayed ranges file). */
  readonly ranges?: ReadonlyMap<string, TensorRange>;
}

/** Options with every default applied, frozen: inner code does not re-check them. */
export interface ResolvedQuantizeOptions {
  readonly scheme: QuantScheme;
  readonly perChannel: boolean;
  readonly reduceRange: boolean;
  readonly excludeNodes: ReadonlySet<string>;
  readonly excludeOpTypes: ReadonlySet<string>;
  readonly opTypes: ReadonlySet<string> | undefined;
  readonly activationType: QuantType;
  readonly activationRange: QuantRange;
  readonly weightRange: QuantRange;
}

export const QUANTIZE_DEFAULTS = Object.freeze({
  scheme: 'U8S8' as QuantScheme,
  perChannel: true,
  reduceRange: false,
});

/** Applies defaults and checks combinations once, at the edge. */
export function resolveQuantizeOptions(options: QuantizeOptions = {}): ResolvedQuantizeOptions {
  const scheme = options.scheme ?? QUANTIZE_DEFAULTS.scheme;
  if (scheme !== 'U8S8' && scheme !== 'S8S8') {
    throw new KilnError('KILN_CORE_INVALID_ARGUMENT', `unknown quantization scheme '${String(scheme)}' (use U8S8 or S8S8)`);
  }
  const activationType: QuantType = scheme === 'U8S8' ? 'uint8' : 'int8';
  const reduceRange = options.reduceRange ?? QUANTIZE_DEFAULTS.reduceRange;
  return Object.freeze({
    scheme,
    perChannel: options.perChannel ?? QUANTIZE_DEFAULTS.perChannel,
    reduceRange,
    excludeNodes: new Set(options.excludeNodes ?? []),
    excludeOpTypes: new Set(options.excludeOpTypes ?? []),
    opTypes: options.opTypes ? new Set(options.opTypes) : undefined,
    activationType,
    activationRange: quantRange(activationType),
    weightRange: quantRange('int8', { symmetric: true, reduceRange }),
  });
}
