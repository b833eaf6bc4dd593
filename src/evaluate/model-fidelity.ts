import type { Engine } from '../runtime/engine.js';
import type { HostTensor } from '../runtime/tensors.js';
import { SqnrAccumulator, top1Agreement } from './fidelity.js';

/** How one model's float outputs compare with the reference model's on the same samples. */
export interface OutputFidelity {
  /** SQNR (dB) over every value of the output, summed over the samples (see SqnrAccumulator). */
  readonly sqnrDb: number;
  readonly maxAbsError: number;
  /**
   * Rows (of the last axis) whose argmax agrees with the reference: samples for a classifier,
   * time steps for a CTC recognizer. Undefined for outputs whose last axis is 1.
   */
  readonly top1: { readonly agree: number; readonly total: number } | undefined;
}

/** Fidelity of each test model, by output name, and the samples it was measured on. */
export interface FidelityResult {
  readonly samples: number;
  /** One entry per test engine, in order; each maps a float output name to its fidelity. */
  readonly models: readonly Readonly<Record<string, OutputFidelity>>[];
}

interface Accumulated {
  readonly sqnr: SqnrAccumulator;
  agree: number;
  total: number;
  rows: boolean;
}

/**
 * Runs `reference` and every `tests` engine on the first `limit` samples and compares each float
 * output with the reference's: the model-level figures (SQNR, top-1 agreement) that show what
 * quantization did before any task metric rounds it away. Samples are streamed, one at a time;
 * `onOutputs` sees every model's outputs of each sample (the reference first), for task metrics.
 * @example const { models } = await measureFidelity(fp32, [int8], source.samples(), 32);
 */
export async function measureFidelity(
  reference: Engine,
  tests: readonly Engine[],
  samples: AsyncIterable<Readonly<Record<string, HostTensor>>>,
  limit: number,
  onProgress?: (done: number) => void,
  onOutputs?: (outputs: readonly Readonly<Record<string, HostTensor>>[]) => void,
): Promise<FidelityResult> {
  const accumulated = tests.map(() => new Map<string, Accumulated>());
  let seen = 0;
  if (limit > 0) {
    for await (const sample of samples) {
      const expected = await reference.run(sample);
      const all = [expected];
      for (const [index, engine] of tests.entries()) {
        const actual = await engine.run(sample);
        all.push(actual);
        for (const [name, tensor] of Object.entries(expected)) {
          const other = actual[name];
          if (tensor.type !== 'float32' || other?.type !== 'float32') continue;
          const entry = accumulated[index]!.get(name) ?? { sqnr: new SqnrAccumulator(), agree: 0, total: 0, rows: false };
          const [want, got] = [tensor.data as Float32Array, other.data as Float32Array];
          entry.sqnr.add(want, got);
          const classes = tensor.dims[tensor.dims.length - 1] ?? 1;
          if (classes > 1 && want.length % classes === 0) {
            const agreement = top1Agreement(want, got, classes);
            entry.agree += agreement.agree;
            entry.total += agreement.total;
            entry.rows = true;
          }
          accumulated[index]!.set(name, entry);
        }
      }
      onOutputs?.(all);
      onProgress?.(++seen);
      if (seen >= limit) break;
    }
  }
  return {
    samples: seen,
    models: accumulated.map((outputs) =>
      Object.fromEntries(
        [...outputs].map(([name, entry]) => [
          name,
          { sqnrDb: entry.sqnr.db(), maxAbsError: entry.sqnr.maxAbsError, top1: entry.rows ? { agree: entry.agree, total: entry.total } : undefined },
        ]),
      ),
    ),
  };
}
