import { KILN_RUNTIME } from '../archive/manifest.js';
import { KilnError } from '../core/errors.js';
import type { ModelVersion } from './model-version.js';
import { describedSettings } from './settings.js';
import type { DescribedSettingName } from '../core/serving-settings.js';
import type { WorkerInfo } from './worker.js';

/** One entry of `GET /models/{m}`: TorchServe's fields, in TorchServe's order. */
export type VersionDescription = {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly modelUrl: string;
  readonly runtime: string;
} & { readonly [K in DescribedSettingName]: number } & {
  readonly parallelType: string;
  readonly parallelLevel: number;
  readonly deviceType: 'cpu' | 'gpu';
  readonly continuousBatching: boolean;
  readonly useJobTicket: boolean;
  readonly useVenv: boolean;
  readonly stateful: boolean;
  readonly sequenceMaxIdleMSec: number;
  readonly sequenceTimeoutMSec: number;
  readonly maxNumSequence: number;
  readonly maxSequenceJobQueueSize: number;
  readonly loadedAtStartup: boolean;
  readonly workers: readonly WorkerInfo[];
  readonly jobQueueStatus: { readonly remainingCapacity: number; readonly pendingRequests: number };
};

/** Describes a version as TorchServe's management API does. */
export function describeVersion(version: ModelVersion, loadedAtStartup: boolean): VersionDescription {
  const settings = version.settings;
  const server = version.archive.modelConfig.server;
  return {
    modelName: version.name,
    modelVersion: version.version,
    modelUrl: version.url,
    runtime: version.archive.manifest.runtime ?? KILN_RUNTIME,
    ...describedSettings(settings),
    parallelType: server.parallelType ?? '',
    parallelLevel: server.parallelLevel ?? 0,
    deviceType: 'cpu',
    continuousBatching: server.continuousBatching ?? false,
    useJobTicket: server.useJobTicket ?? false,
    useVenv: false,
    stateful: server.sequenceBatching ?? false,
    sequenceMaxIdleMSec: server.sequenceMaxIdleMSec ?? 0,
    sequenceTimeoutMSec: server.sequenceTimeoutMSec ?? 0,
    maxNumSequence: server.maxNumSequence ?? 0,
    maxSequenceJobQueueSize: server.maxSequenceJobQueueSize ?? 0,
    loadedAtStartup,
    workers: version.workerInfo(),
    jobQueueStatus: { remainingCapacity: version.queue.remainingCapacity, pendingRequests: version.queue.depth },
  };
}

/**
 * Asks a worker of `version` for its handler's metadata (`GET /models/{m}?customized=true`),
 * through the version's queue as TorchServe does. Parsed as TorchServe's frontend reads it: a
 * JSON object is the metadata, other JSON or text reads as `{}`, and null (no `describe` hook)
 * means none, so the field is left out.
 * @throws KilnError `KILN_SERVE_NO_WORKER` (503) when the version has no worker.
 */
export async function customizedMetadata(version: ModelVersion): Promise<Record<string, unknown> | undefined> {
  if (version.liveWorkers === 0) {
    throw new KilnError(
      'KILN_SERVE_NO_WORKER',
      `Model "${version.name}" has no worker to serve describe request. Please use scale workers API to add workers.`,
    );
  }
  const response = await version.predict({ input: {}, describe: true });
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(response.body));
  } catch {
    return {};
  }
  if (parsed === null) return undefined;
  return typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
}
