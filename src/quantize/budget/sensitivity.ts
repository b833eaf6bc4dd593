/**
 * Per-layer sensitivity to INT8, measured as output SQNR against FP32 on held-out feeds.
 *
 * Two designs cost the same (N + 1 variants for N weighted layers, one build and one session
 * each) and kiln offers both; the default is leave-one-out:
 * - `leave-one-out`: everything quantized except one layer; the score is the SQNR recovered
 *   by keeping that layer float. This is the question the budget search asks ("which layer,
 *   kept float, buys back the most?") asked in the configuration that is deployed, so the
 *   interaction between a layer's error and everyone else's quantization noise is included
 *   (a layer whose error is masked by a noisier downstream layer scores low, correctly).
 * - `one-at-a-time`: only one layer quantized; the score is the SQNR lost. Each number is
 *   the layer's error alone, easier to read, but the sum of single-layer losses does not
 *   predict the deployed model, and on a deep net most single-layer losses sit near the
 *   measurement floor.
 */
import type { FidelityMetric } from './output-fidelity.js';
import type { VariantBuilder } from './variants.js';
import type { WeightedLayer } from './layers.js';

/** How sensitivity is measured; see the module comment for why leave-one-out is the default. */
export type SensitivityMethod = 'leave-one-out' | 'one-at-a-time';

/** @defaultValue the method {@link analyzeSensitivity} uses when none is given */
export const DEFAULT_SENSITIVITY_METHOD: SensitivityMethod = 'leave-one-out';

/** One row of the sensitivity table. */
export interface LayerSensitivity extends WeightedLayer {
  /** Output SQNR (dB) of this layer's variant. */
  readonly sqnrDb: number;
  /**
   * Higher is more sensitive, in dB. Leave-one-out: SQNR of the variant minus SQNR of the
   * fully quantized model (what keeping the layer float recovers). One-at-a-time: minus the
   * variant's SQNR (the noise this layer alone adds, as a level).
   */
  readonly score: number;
}

/** The table, most sensitive first. */
export interface SensitivityReport {
  readonly method: SensitivityMethod;
  /** Output SQNR (dB) with every layer quantized. */
  readonly fullyQuantizedSqnrDb: number;
  readonly layers: readonly LayerSensitivity[];
  /** Variants built and evaluated for the table (N, plus one for the fully quantized model). */
  readonly evaluations: number;
}

/**
 * Scores every layer by building its variant from `builder` (fixed ranges, in memory) and
 * running it through `fidelity`. `fullyQuantizedSqnrDb` may be passed when already known.
 */
export async function analyzeSensitivity(
  layers: readonly WeightedLayer[],
  builder: VariantBuilder,
  fidelity: FidelityMetric,
  options: { readonly method?: SensitivityMethod; readonly fullyQuantizedSqnrDb?: number; readonly onLayer?: (done: number, total: number) => void } = {},
): Promise<SensitivityReport> {
  const method = options.method ?? DEFAULT_SENSITIVITY_METHOD;
  let evaluations = 0;
  let full = options.fullyQuantizedSqnrDb;
  if (full === undefined) {
    full = await fidelity((await builder.build([])).bytes);
    evaluations++;
  }
  const names = layers.map((layer) => layer.name);
  const rows: LayerSensitivity[] = [];
  for (const layer of layers) {
    const floatLayers = method === 'leave-one-out' ? [layer.name] : names.filter((name) => name !== layer.name);
    const sqnrDb = await fidelity((await builder.build(floatLayers)).bytes);
    evaluations++;
    rows.push({ ...layer, sqnrDb, score: method === 'leave-one-out' ? difference(sqnrDb, full) : -sqnrDb });
    options.onLayer?.(rows.length, layers.length);
  }
  rows.sort((a, b) => b.score - a.score || b.macs - a.macs);
  return { method, fullyQuantizedSqnrDb: full, layers: rows, evaluations };
}

/** a − b, with equal infinities (two exact variants) differing by 0 rather than NaN. */
function difference(a: number, b: number): number {
  return a === b ? 0 : a - b;
}
