import { KILN_RUNTIME } from '../archive/manifest.js';
import type { ModelVersion } from './model-version.js';
import { reportedSettings } from './settings.js';
import type { WorkerInfo } from './worker.js';

/** One entry of `GET /models/{m}`: TorchServe's fields, in TorchServe's order. */
export interface VersionDescription {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly modelUrl: string;
  readonly runtime: string;
  readonly minWorkers: number;
  readonly maxWorkers: number;
  readonly batchSize: number;
  readonly maxBatchDelay: number;
  readonly responseTimeout: number;
  readonly startupTimeout: number;
  readonly maxRetryTimeoutInSec: number;
  readonly clientTimeoutInMills: number;
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
}

/** Describes a version as TorchServe's management API does. */
export function describeVersion(version: ModelVersion, loadedAtStartup: boolean): VersionDescription {
  const settings = version.settings;
  const server = version.archive.modelConfig.server;
  return {
    modelName: version.name,
    modelVersion: version.version,
    modelUrl: version.url,
    runtime: version.archive.manifest.runtime ?? KILN_RUNTIME,
    ...reportedSettings(settings),
    maxRetryTimeoutInSec: settings.maxRetryTimeoutInSec,
    clientTimeoutInMills: server.clientTimeoutInMills ?? 0,
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
