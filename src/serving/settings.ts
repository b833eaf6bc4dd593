import type { ModelConfig } from '../archive/model-config.js';

/** How one model version is served; TorchServe's names, resolved from REST > yaml > config > defaults. */
export interface VersionSettings {
  readonly minWorkers: number;
  readonly maxWorkers: number;
  readonly batchSize: number;
  /** Milliseconds to wait for a batch to fill, counted from its first request. */
  readonly maxBatchDelay: number;
  /** Seconds a worker may take to answer a batch before it is replaced. */
  readonly responseTimeout: number;
  /** Seconds a worker may take to load. */
  readonly startupTimeout: number;
  /** Seconds a version may stay below minWorkers before /ping reports it unhealthy. */
  readonly maxRetryTimeoutInSec: number;
  /** Requests that may wait for a worker; more get 503. */
  readonly jobQueueSize: number;
  /** Milliseconds a request may wait in the queue before it is dropped unrun; 0 = no limit. */
  readonly clientTimeoutInMills: number;
}

/** Server-wide defaults a version starts from. */
export interface ServingDefaults {
  readonly workers: number;
  readonly batchSize: number;
  readonly maxBatchDelay: number;
  readonly responseTimeout: number;
  readonly startupTimeout: number;
  readonly maxRetryTimeoutInSec: number;
  readonly jobQueueSize: number;
}

/** kiln's defaults: TorchServe's, with one worker per model rather than one per CPU. */
export const SERVING_DEFAULTS: ServingDefaults = Object.freeze({
  workers: 1,
  batchSize: 1,
  maxBatchDelay: 100,
  responseTimeout: 120,
  startupTimeout: 120,
  maxRetryTimeoutInSec: 300,
  jobQueueSize: 100,
});

/** Values given at registration (REST parameters or a `models=` entry); any may be absent. */
export interface SettingsOverrides {
  readonly initialWorkers?: number;
  /** Workers when nothing else says (startup models: default_workers_per_model). */
  readonly fallbackWorkers?: number;
  /** Workers that beat even model-config.yaml (restoring a snapshot's scaled counts). */
  readonly restoredWorkers?: { readonly min: number; readonly max: number };
  readonly minWorkers?: number;
  readonly maxWorkers?: number;
  readonly batchSize?: number;
  readonly maxBatchDelay?: number;
  readonly responseTimeout?: number;
  readonly startupTimeout?: number;
}

/**
 * Resolves a version's settings with TorchServe's priorities: REST > model-config.yaml >
 * `models=` config > defaults for batching; a yaml `responseTimeout`/`startupTimeout` wins over
 * REST; yaml minWorkers/maxWorkers replace initial_workers when min > 0 and max ≥ min; a restored
 * snapshot's worker counts beat everything (they are what the operator last scaled to).
 */
export function resolveSettings(
  defaults: ServingDefaults,
  yaml: ModelConfig['server'],
  rest: SettingsOverrides = {},
  configured: SettingsOverrides = {},
): VersionSettings {
  const pick = (key: 'batchSize' | 'maxBatchDelay', fallback: number): number =>
    rest[key] ?? (yaml as Record<string, number | undefined>)[key] ?? configured[key] ?? fallback;
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
  return Object.freeze({
    minWorkers,
    maxWorkers,
    batchSize: pick('batchSize', defaults.batchSize),
    maxBatchDelay: pick('maxBatchDelay', defaults.maxBatchDelay),
    responseTimeout: yaml.responseTimeout ?? rest.responseTimeout ?? configured.responseTimeout ?? defaults.responseTimeout,
    startupTimeout: yaml.startupTimeout ?? rest.startupTimeout ?? configured.startupTimeout ?? defaults.startupTimeout,
    maxRetryTimeoutInSec: yaml.maxRetryTimeoutInSec ?? defaults.maxRetryTimeoutInSec,
    jobQueueSize: yaml.jobQueueSize ?? defaults.jobQueueSize,
    // Only model-config.yaml sets it, as in TorchServe.
    clientTimeoutInMills: yaml.clientTimeoutInMills ?? 0,
  });
}

/** The worker and batching settings TorchServe reports, in its field order (describe, snapshots). */
export function reportedSettings(settings: VersionSettings) {
  return {
    minWorkers: settings.minWorkers,
    maxWorkers: settings.maxWorkers,
    batchSize: settings.batchSize,
    maxBatchDelay: settings.maxBatchDelay,
    responseTimeout: settings.responseTimeout,
    startupTimeout: settings.startupTimeout,
  };
}
