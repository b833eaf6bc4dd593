/**
 * Output fidelity of a model variant against FP32: the reference outputs are computed once,
 * then each variant runs the same held-out feeds in one ONNX Runtime session and is scored by
 * its output SQNR. Cheap enough to run once per layer, and continuous, unlike a task metric
 * whose differences between two variants are a handful of discrete mistakes.
 */
import type { HostTensor } from '../../runtime/tensors.js';
import { Engine } from '../../runtime/engine.js';
import type { Feeds } from '../data/types.js';

/** Scores model bytes by output SQNR against the reference outputs; higher is better. */
export type FidelityMetric = (modelBytes: Uint8Array) => Promise<number>;

/** Options of {@link outputFidelity}. */
export interface OutputFidelityOptions {
  /** @defaultValue 0 (onnxruntime decides) */
  readonly intraOpThreads?: number;
}

const floatsOf = (tensor: HostTensor): Float32Array | undefined => (tensor.type === 'float32' ? (tensor.data as Float32Array) : undefined);

/**
 * Runs `reference` (FP32 model bytes) on every feed once and returns a metric: the SQNR in dB
 * of a variant's outputs, signal and noise summed over all feeds, taking the worst graph
 * output (a model is only as good as its worst head). Infinity when the outputs are equal.
 * @example const sqnr = await outputFidelity(encodeModel(fp32), heldOut); await sqnr(int8Bytes) // 24.3
 */
export async function outputFidelity(reference: Uint8Array, feeds: readonly Feeds[], options: OutputFidelityOptions = {}): Promise<FidelityMetric> {
  const threads = options.intraOpThreads ?? 0;
  const references = await runAll(reference, feeds, threads, 'fp32 reference');
  return async (modelBytes) => {
    const outputs = await runAll(modelBytes, feeds, threads, 'variant');
    let worst = Number.POSITIVE_INFINITY;
    for (const name of Object.keys(references[0] ?? {})) {
      let signal = 0;
      let noise = 0;
      references.forEach((expected, index) => {
        const want = floatsOf(expected[name]!);
        const got = outputs[index]?.[name] ? floatsOf(outputs[index][name]) : undefined;
        if (!want || !got) return;
        for (let i = 0; i < want.length; i++) {
          const error = want[i]! - got[i]!;
          signal += want[i]! * want[i]!;
          noise += error * error;
        }
      });
      const db = noise === 0 ? Number.POSITIVE_INFINITY : signal === 0 ? Number.NEGATIVE_INFINITY : 10 * Math.log10(signal / noise);
      worst = Math.min(worst, db);
    }
    return worst;
  };
}

async function runAll(model: Uint8Array, feeds: readonly Feeds[], intraOpThreads: number, label: string): Promise<Record<string, HostTensor>[]> {
  const engine = await Engine.load(model, { intraOpThreads, label });
  try {
    const results: Record<string, HostTensor>[] = [];
    for (const feed of feeds) results.push(await engine.run(feed));
    return results;
  } finally {
    await engine.release();
  }
}
