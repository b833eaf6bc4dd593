/**
 * Checks against the bounds of the worker, batch, queue and timeout settings, whichever source
 * sets them: REST parameters, model-config.yaml, config.properties (`default_*`, `models=`,
 * `model_snapshot`) and workflow specs. The bounds themselves are part of the one settings table,
 * {@link SERVING_SETTINGS} (./serving-settings.ts).
 */
import { z } from 'zod';
import { SERVING_SETTINGS, type SettingBound, type SettingName } from './serving-settings.js';

export { MAX_WORKERS, type SettingBound } from './serving-settings.js';

/** Each setting's bound, from the one settings table. */
export const SETTING_BOUNDS: Readonly<Record<SettingName, SettingBound>> = Object.freeze(
  Object.fromEntries(Object.entries(SERVING_SETTINGS).map(([name, spec]) => [name, spec.bound])) as Record<SettingName, SettingBound>,
);

/** A setting with a bound. */
export type BoundedSetting = SettingName;

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
