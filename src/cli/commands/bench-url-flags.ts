/** `kiln bench --url`'s command line, checked once into a frozen {@link BenchUrlConfig}. */
import { KilnError } from '../../core/errors.js';
import { parseIntList, parsePositiveInt } from '../options.js';
import { BENCH_MODEL_FLAGS, BENCH_URL_DEFAULTS } from './bench-defaults.js';
import type { BenchUrlConfig } from './bench-url.js';
import { resolveBenchTarget, type BenchProtocol } from './bench-url-target.js';

function usage(message: string): KilnError {
  return new KilnError('KILN_CLI_USAGE', message);
}

/** Seconds: a number ≥ 0 (or > 0), decimals allowed (`--duration 0.5`). */
export function parseSeconds(flag: string, text: string, { allowZero = false } = {}): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw usage(`${flag} must be a number of seconds${allowZero ? ', 0 or more' : ' above 0'}, got '${text}'`);
  }
  return value;
}

/**
 * Resolves the flags of `kiln bench --url`.
 * @param given whether the user set a flag (commander's option value source is 'cli'), so that
 * flags of the model-file mode are refused instead of silently ignored.
 */
export function benchUrlConfig(models: readonly string[], flags: Readonly<Record<string, unknown>>, given: (flag: string) => boolean): BenchUrlConfig {
  if (models.length > 0) throw usage(`kiln bench takes a model file or --url, not both (got ${models.join(' ')})`);
  const wrong = BENCH_MODEL_FLAGS.find(given);
  if (wrong) throw usage(`--${wrong} applies to a model file measured in this process, not to --url`);
  const target = resolveBenchTarget({
    url: String(flags['url']),
    protocol: flags['protocol'] as BenchProtocol | undefined,
    model: flags['model'] as string | undefined,
    version: flags['modelVersion'] as string | undefined,
  });
  const inputs = (flags['input'] as string[] | undefined) ?? [];
  const shapes = (flags['shape'] as Record<string, number[]> | undefined) ?? {};
  const dims = (flags['dim'] as Record<string, number> | undefined) ?? {};
  const binary = Boolean(flags['binary']);
  const contentType = flags['contentType'] as string | undefined;
  if (inputs.length === 0) {
    if (target.protocol === 'torchserve') throw usage('--protocol torchserve sends request files: give --input FILE|DIR (generated inputs need --protocol oip)');
    if (contentType !== undefined) throw usage('--content-type applies to request files (--input)');
  } else {
    const generatedOnly = (['shape', 'dim', 'binary'] as const).find(given);
    if (generatedOnly) throw usage(`--${generatedOnly} applies to generated inputs; request files (--input) are sent as they are`);
  }
  return Object.freeze({
    target,
    inputs,
    contentType,
    headers: (flags['header'] as Record<string, string> | undefined) ?? {},
    binary,
    concurrency: flags['concurrency'] === undefined ? BENCH_URL_DEFAULTS.concurrency : parseIntList('--concurrency', String(flags['concurrency'])),
    durationS: flags['duration'] === undefined ? BENCH_URL_DEFAULTS.durationS : parseSeconds('--duration', String(flags['duration'])),
    warmupS: flags['warmup'] === undefined ? BENCH_URL_DEFAULTS.warmupS : parseSeconds('--warmup', String(flags['warmup']), { allowZero: true }),
    timeoutS: flags['timeout'] === undefined ? BENCH_URL_DEFAULTS.timeoutS : parseSeconds('--timeout', String(flags['timeout'])),
    dims,
    shapes,
    seed: parsePositiveInt('--seed', String(flags['seed']), { allowZero: true }),
    json: Boolean(flags['json']),
  });
}
