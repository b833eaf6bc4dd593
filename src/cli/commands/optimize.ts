import { KilnError } from '../../core/errors.js';
import { runLadder, type BudgetRung } from '../../optimize/ladder.js';
import { ladderReport } from '../../optimize/report.js';
import { quantize } from '../../optimize/quantize.js';
import type { AccuracyTarget } from '../../optimize/types.js';
import type { CalibrationSourceOptions } from '../../quantize/data/index.js';
import { table } from '../format.js';
import type { CliIO } from '../io.js';
import { emitReport, phaseBar, type EvaluationFlags } from './compare.js';

/** Flags of `kiln optimize`, resolved. */
export interface OptimizeFlags extends EvaluationFlags {
  /** Calibration data of the static rungs (--calib, or --data), with --limit. */
  readonly calibration: { readonly path: string; readonly options: CalibrationSourceOptions };
  readonly outDir: string;
  readonly force: boolean;
  /** `--max-drop PP` or `--min-sqnr DB`: adds the "static + budget" rung. */
  readonly budget?: { readonly kind: 'max-drop' | 'min-sqnr'; readonly value: number } | undefined;
}

/**
 * The "static + budget" rung from `--max-drop PP` (top-1 on the labelled --data) or `--min-sqnr
 * DB` (output SQNR on --data): static MSE INT8 that keeps the most sensitive layers float until
 * the budget holds on the evaluation data, calibrated on the static rungs' data.
 */
export function budgetRung(budget: OptimizeFlags['budget'], flags: EvaluationFlags, force: boolean): BudgetRung | undefined {
  if (!budget || !flags.dataPath) return undefined;
  const heldOut = flags.dataPath;
  const target: AccuracyTarget =
    budget.kind === 'max-drop'
      ? { kind: 'max-drop', maxDropPp: budget.value, heldOut, options: flags.source, ...(flags.labels ? { labels: flags.labels } : {}) }
      : { kind: 'min-sqnr', minSqnrDb: budget.value, heldOut: { path: heldOut, options: flags.source } };
  return {
    label: budget.kind === 'max-drop' ? `static + budget (top-1 drop ≤ ${budget.value} pp)` : `static + budget (SQNR ≥ ${budget.value} dB)`,
    run: (input, { output, data, base, onProgress }) =>
      quantize(input, { mode: { ...base, budget: target }, output, data, force, allowUnfused: true, ...(onProgress ? { onProgress } : {}) }),
  };
}

/** `kiln optimize MODEL --data DIR`: the FP32 → FP16 → INT8 ladder, compared side by side. */
export async function runOptimize(model: string, flags: OptimizeFlags, io: CliIO): Promise<void> {
  if (!flags.dataPath) throw new KilnError('KILN_CLI_USAGE', 'kiln optimize needs --data DIR (images or .npy samples to calibrate on and evaluate with)');
  const rung = budgetRung(flags.budget, flags, flags.force);
  const bar = phaseBar(io, flags.json);
  let result;
  try {
    result = await runLadder(model, {
      data: { path: flags.dataPath, options: flags.source, ...(flags.labels ? { labels: flags.labels } : {}) },
      calibration: flags.calibration,
      outDir: flags.outDir,
      force: flags.force,
      ...(rung ? { budget: rung } : {}),
      compare: { ...(flags.samples !== undefined ? { samples: flags.samples } : {}), ...(flags.iterations !== undefined ? { iterations: flags.iterations } : {}) },
      onProgress: ({ rung, phase, done, total }) => bar.update(`${rung}: ${phase}`, done, total),
    });
  } finally {
    bar.stop();
  }
  const doc = ladderReport(model, result.rungs, result.comparison);
  if (!flags.json) {
    io.out(
      table(
        ['rung', 'model', 'took'],
        result.rungs.map((rung) => [rung.label, rung.path ?? `skipped: ${rung.skipped}`, rung.run ? `${(rung.run.timing.totalMs / 1000).toFixed(1)} s` : '–']),
      ),
    );
    io.out('');
  }
  emitReport(doc, flags, io);
}
