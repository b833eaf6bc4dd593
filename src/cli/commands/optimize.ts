import { KilnError } from '../../core/errors.js';
import { runLadder, type BudgetRung } from '../../optimize/ladder.js';
import { ladderReport } from '../../optimize/report.js';
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
}

/**
 * The "static + budget" rung, once the quantizer offers an accuracy-budget search: build a
 * {@link BudgetRung} from `--max-drop` here. Until then the ladder has no such rung.
 */
const BUDGET_RUNG: BudgetRung | undefined = undefined;

/** `kiln optimize MODEL --data DIR`: the FP32 → FP16 → INT8 ladder, compared side by side. */
export async function runOptimize(model: string, flags: OptimizeFlags, io: CliIO): Promise<void> {
  if (!flags.dataPath) throw new KilnError('KILN_CLI_USAGE', 'kiln optimize needs --data DIR (images or .npy samples to calibrate on and evaluate with)');
  const bar = phaseBar(io, flags.json);
  let result;
  try {
    result = await runLadder(model, {
      data: { path: flags.dataPath, options: flags.source, ...(flags.labels ? { labels: flags.labels } : {}) },
      calibration: flags.calibration,
      outDir: flags.outDir,
      force: flags.force,
      ...(BUDGET_RUNG ? { budget: BUDGET_RUNG } : {}),
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
