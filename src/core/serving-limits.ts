/**
 * The one table of bounds for every worker, batch, queue and timeout setting, whichever source
 * sets it: REST parameters, model-config.yaml, config.properties (`default_*`, `models=`,
 * `model_snapshot`) and workflow specs. It lives in `core` because `archive` (model-config.yaml)
 * and `server` (REST, config.properties) both check against it and neither may import the other.
 * docs/server.md shows the same table.
 */
import { z } from 'zod';

/** An inclusive integer range, with why the upper end is where it is. */
export interface SettingBound {
  readonly min: number;
  readonly max: number;
  readonly unit: '' | 'ms' | 's';
  readonly why: string;
}

/**
 * Workers per model version. Each worker is one thread (or process) with its own onnxruntime
 * session, a full copy of the weights and its own intra-op thread pool, so workers beyond the core
 * count only cost memory. 64 covers one worker per core on large hosts, while a mistaken config
 * can no longer start hundreds of threads (`minWorkers: 300` once did, 7.6 GB before it finished).
 */
export const MAX_WORKERS = 64;

/** Node's timers take at most 2^31-1 ms; a longer delay fires after 1 ms instead. */
const TIMER_MAX_MS = 2_147_483_647;
const TIMER_MAX_S = Math.floor(TIMER_MAX_MS / 1000);

const workers: SettingBound = { min: 0, max: MAX_WORKERS, unit: '', why: 'each worker loads its own copy of the model' };

/** TorchServe has no upper limits for these; kiln's are chosen so one setting cannot exhaust the host. */
export const SETTING_BOUNDS = Object.freeze({
  minWorkers: workers,
  maxWorkers: workers,
  batchSize: { min: 1, max: 4096, unit: '', why: 'a batch is stacked into one tensor in memory' },
  maxBatchDelay: {
    min: 0,
    max: 10_000,
    unit: 'ms',
    why: 'a request waits this long for company before it runs; it must stay far below responseTimeout',
  },
  responseTimeout: { min: 1, max: TIMER_MAX_S, unit: 's', why: 'the longest delay a Node timer honours' },
  startupTimeout: { min: 1, max: TIMER_MAX_S, unit: 's', why: 'the longest delay a Node timer honours' },
  maxRetryTimeoutInSec: { min: 0, max: TIMER_MAX_S, unit: 's', why: 'the longest delay a Node timer honours' },
  clientTimeoutInMills: { min: 0, max: TIMER_MAX_MS, unit: 'ms', why: 'the longest delay a Node timer honours' },
  jobQueueSize: { min: 1, max: 10_000, unit: '', why: 'each waiting request holds its body in memory' },
  unregisterModelTimeout: { min: 0, max: TIMER_MAX_S, unit: 's', why: 'the longest delay a Node timer honours' },
} satisfies Record<string, SettingBound>);

/** A setting with a bound. */
export type BoundedSetting = keyof typeof SETTING_BOUNDS;

/**
 * Why `value` is not allowed for `setting`, or undefined when it is. The wording names the
 * bound; callers add the source, key and value.
 */
export function boundProblem(setting: BoundedSetting, value: number): string | undefined {
  const { min, max, unit, why } = SETTING_BOUNDS[setting];
  if (!Number.isInteger(value)) return 'must be a whole number';
  if (value < min) return min === 0 ? 'must not be negative' : `must be at least ${min}`;
  if (value > max) return `must be at most ${max}${unit ? ` ${unit}` : ''} (${why})`;
  return undefined;
}

/** A zod number schema for `setting`: an integer within its bound, with {@link boundProblem}'s wording. */
export function boundedInt(setting: BoundedSetting) {
  return z.number().superRefine((value, ctx) => {
    const problem = boundProblem(setting, value);
    if (problem) ctx.addIssue({ code: 'custom', message: `${problem}, got ${value}` });
  });
}
