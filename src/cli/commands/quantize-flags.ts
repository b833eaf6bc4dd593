import { KilnError } from '../../core/errors.js';
import { calibrationConfig, parseCalibrationMethod } from '../../quantize/calibrate/index.js';
import { parseImagePreprocess } from '../../image/index.js';
import type { QuantScheme } from '../../quantize/options.js';
import { parsePositiveInt } from '../options.js';
import type { QuantizeCommandConfig } from './quantize.js';

export { runQuantize } from './quantize.js';

function list(value: unknown): string[] {
  return typeof value === 'string' ? value.split(',').map((item) => item.trim()).filter(Boolean) : [];
}

function number(flag: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed)) throw new KilnError('KILN_CLI_USAGE', `${flag} must be a number, not '${String(value)}'`);
  return parsed;
}

/** Turns commander's flags for `kiln quantize` into a checked config (validated once, here). */
export function quantizeCommandConfig(flags: Readonly<Record<string, unknown>>): QuantizeCommandConfig {
  const method = parseCalibrationMethod(String(flags['method'] ?? 'mse'));
  const percentile = number('--percentile', flags['percentile']);
  const bins = flags['bins'] === undefined ? undefined : parsePositiveInt('--bins', String(flags['bins']));
  const limit = flags['limit'] === undefined ? undefined : parsePositiveInt('--limit', String(flags['limit']));
  const mode = flags['mode'] === 'dynamic' || flags['mode'] === 'fp16' ? flags['mode'] : 'static';
  if (mode !== 'static') {
    const staticOnly = [['--ranges', 'ranges'], ['--save-ranges', 'saveRanges'], ['--reduce-range', 'reduceRange'], ['--op-types', 'opTypes']] as const;
    for (const [flag, key] of [...staticOnly, ...(mode === 'dynamic' ? ([['--exclude-ops', 'excludeOps']] as const) : [])]) {
      if (flags[key] !== undefined && flags[key] !== false) throw new KilnError('KILN_CLI_USAGE', `${flag} applies to static quantization, not --mode ${mode}`);
    }
    if (flags['scheme'] === 'S8S8') throw new KilnError('KILN_CLI_USAGE', `--scheme S8S8 applies to static quantization, not --mode ${mode}`);
  }
  const target = accuracyTarget(flags, mode);
  return {
    ...target,
    output: String(flags['output']),
    force: Boolean(flags['force']),
    mode,
    calibrationPath: typeof flags['calib'] === 'string' ? flags['calib'] : undefined,
    source: {
      ...(typeof flags['input'] === 'string' ? { input: flags['input'] } : {}),
      ...(typeof flags['preprocess'] === 'string' ? { preprocess: parseImagePreprocess(flags['preprocess']) } : {}),
      ...(limit !== undefined ? { limit } : {}),
    },
    calibration: calibrationConfig(method, { ...(percentile !== undefined ? { percentile } : {}), ...(bins !== undefined ? { bins } : {}) }),
    scheme: (flags['scheme'] ?? 'U8S8') as QuantScheme,
    perChannel: !flags['perTensor'],
    reduceRange: Boolean(flags['reduceRange']),
    excludeNodes: list(flags['excludeNodes']),
    excludeOpTypes: list(flags['excludeOps']),
    opTypes: flags['opTypes'] === undefined ? undefined : list(flags['opTypes']),
    rangesPath: typeof flags['ranges'] === 'string' ? flags['ranges'] : undefined,
    saveRangesPath: typeof flags['saveRanges'] === 'string' ? flags['saveRanges'] : undefined,
    allowUnfused: Boolean(flags['allowUnfused']),
    sqnrSamples: parsePositiveInt('--sqnr-samples', String(flags['sqnrSamples'] ?? '32'), { allowZero: true }),
    json: Boolean(flags['json']),
    reportPath: typeof flags['report'] === 'string' ? flags['report'] : undefined,
  };
}

/** `--equalize`, `--bias-correction` and the budget flags, checked together. */
function accuracyTarget(flags: Readonly<Record<string, unknown>>, mode: QuantizeCommandConfig['mode']): Pick<QuantizeCommandConfig, 'equalize' | 'biasCorrection' | 'budget'> {
  const equalize = Boolean(flags['equalize']);
  const biasCorrection = Boolean(flags['biasCorrection']);
  const maxDrop = number('--max-drop', flags['maxDrop']);
  const minSqnr = number('--min-sqnr', flags['minSqnr']);
  const evalPath = typeof flags['eval'] === 'string' ? flags['eval'] : undefined;
  const labels = typeof flags['labels'] === 'string' ? flags['labels'] : undefined;
  const asked = [equalize && '--equalize', biasCorrection && '--bias-correction', maxDrop !== undefined && '--max-drop', minSqnr !== undefined && '--min-sqnr'].filter(Boolean);
  if (mode !== 'static' && asked.length > 0) throw new KilnError('KILN_CLI_USAGE', `${asked[0]} applies to static quantization, not --mode ${mode}`);
  if (maxDrop !== undefined && minSqnr !== undefined) throw new KilnError('KILN_CLI_USAGE', 'give one budget: --max-drop or --min-sqnr, not both');
  if (maxDrop !== undefined && maxDrop < 0) throw new KilnError('KILN_CLI_USAGE', `--max-drop is a drop in percentage points (0 or more), not ${maxDrop}`);
  const budgetFlag = maxDrop !== undefined ? '--max-drop' : minSqnr !== undefined ? '--min-sqnr' : undefined;
  if (budgetFlag && !evalPath) throw new KilnError('KILN_CLI_USAGE', `${budgetFlag} needs --eval DIR: held-out data, not the calibration set, to measure the budget on`);
  if (!budgetFlag && (evalPath || labels)) throw new KilnError('KILN_CLI_USAGE', `${evalPath ? '--eval' : '--labels'} is the held-out data of a budget: give --max-drop or --min-sqnr with it`);
  if (labels && minSqnr !== undefined) throw new KilnError('KILN_CLI_USAGE', '--labels goes with --max-drop (top-1 accuracy); --min-sqnr needs no labels');
  const budget: QuantizeCommandConfig['budget'] =
    maxDrop !== undefined ? { kind: 'max-drop', maxDropPp: maxDrop, evalPath: evalPath!, ...(labels ? { labels } : {}) } : minSqnr !== undefined ? { kind: 'min-sqnr', minSqnrDb: minSqnr, evalPath: evalPath! } : undefined;
  return { equalize, biasCorrection, budget };
}
