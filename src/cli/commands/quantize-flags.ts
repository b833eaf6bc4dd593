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
  return {
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
