import type { ModelConfig } from '../archive/model-config.js';
import {
  DESCRIBED_SETTINGS,
  SERVING_SETTINGS,
  SNAPSHOT_SETTINGS,
  VERSION_SETTINGS,
  type DescribedSettingName,
  type SnapshotSettingName,
  type VersionSettingName,
} from '../core/serving-settings.js';

/**
 * How one model version is served: every per-version setting of the one table
 * (`SERVING_SETTINGS`, src/core/serving-settings.ts, which says each one's unit and meaning),
 * resolved from REST > yaml > config > defaults as the table's `precedence` says.
 */
export type VersionSettings = { readonly [K in VersionSettingName]: number };

/** Server-wide defaults a version starts from: `workers` for the worker counts, the rest by name. */
export type ServingDefaults = { readonly workers: number } & { readonly [K in Exclude<VersionSettingName, 'minWorkers' | 'maxWorkers'>]: number };

/** kiln's defaults (the table's): TorchServe's, with one worker per model rather than one per CPU. */
export const SERVING_DEFAULTS: ServingDefaults = Object.freeze({
  workers: SERVING_SETTINGS.minWorkers.default,
  ...(Object.fromEntries(VERSION_SETTINGS.filter((name) => name !== 'minWorkers' && name !== 'maxWorkers').map((name) => [name, SERVING_SETTINGS[name].default])) as Omit<ServingDefaults, 'workers'>),
});

/** Settings REST or `models=` may give (the snapshot ones): any may be absent. */
type GivenSettings = { readonly [K in SnapshotSettingName]?: number };

/** Values given at registration (REST parameters or a `models=` entry); any may be absent. */
export interface SettingsOverrides extends GivenSettings {
  readonly initialWorkers?: number;
  /** Workers when nothing else says (startup models: default_workers_per_model). */
  readonly fallbackWorkers?: number;
  /** Workers that beat even model-config.yaml (restoring a snapshot's scaled counts). */
  readonly restoredWorkers?: { readonly min: number; readonly max: number };
}

/**
 * Resolves a version's settings with TorchServe's priorities, per the table's `precedence`:
 * `rest` settings take REST > model-config.yaml > `models=` config > defaults; `yaml` ones
 * model-config.yaml > REST > config > defaults; the worker counts start from initial_workers,
 * yaml minWorkers/maxWorkers replace them when min > 0 and max ≥ min, and a restored snapshot's
 * counts beat everything (they are what the operator last scaled to).
 */
export function resolveSettings(
  defaults: ServingDefaults,
  yaml: ModelConfig['server'],
  rest: SettingsOverrides = {},
  configured: SettingsOverrides = {},
): VersionSettings {
  const given = (source: SettingsOverrides | ModelConfig['server'], name: VersionSettingName): number | undefined => (source as Record<string, number | undefined>)[name];
  let minWorkers = rest.initialWorkers ?? rest.minWorkers ?? configured.minWorkers ?? rest.fallbackWorkers ?? defaults.workers;
  let maxWorkers = Math.max(minWorkers, rest.maxWorkers ?? configured.maxWorkers ?? minWorkers);
  if (yaml.minWorkers !== undefined && yaml.minWorkers > 0 && (yaml.maxWorkers ?? yaml.minWorkers) >= yaml.minWorkers) {
    minWorkers = yaml.minWorkers;
    maxWorkers = yaml.maxWorkers ?? yaml.minWorkers;
  }
  if (rest.restoredWorkers) {
    minWorkers = rest.restoredWorkers.min;
    maxWorkers = Math.max(rest.restoredWorkers.min, rest.restoredWorkers.max);
  }
  const resolved: Record<string, number> = {};
  for (const name of VERSION_SETTINGS) {
    if (name === 'minWorkers' || name === 'maxWorkers') {
      resolved[name] = name === 'minWorkers' ? minWorkers : maxWorkers;
      continue;
    }
    const first = SERVING_SETTINGS[name].precedence === 'rest' ? [rest, yaml] : [yaml, rest];
    resolved[name] = given(first[0]!, name) ?? given(first[1]!, name) ?? given(configured, name) ?? defaults[name];
  }
  return Object.freeze(resolved as VersionSettings);
}

function pick<K extends VersionSettingName>(settings: VersionSettings, names: readonly K[]): { [N in K]: number } {
  return Object.fromEntries(names.map((name) => [name, settings[name]])) as { [N in K]: number };
}

/** The settings a snapshot writes for a version (and `models=` may set), in TorchServe's order. */
export function snapshotSettings(settings: VersionSettings): { [K in SnapshotSettingName]: number } {
  return pick(settings, SNAPSHOT_SETTINGS);
}

/** The settings describe reports for a version, in TorchServe's order. */
export function describedSettings(settings: VersionSettings): { [K in DescribedSettingName]: number } {
  return pick(settings, DESCRIBED_SETTINGS);
}
