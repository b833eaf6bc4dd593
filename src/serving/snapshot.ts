import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatProperties } from '../core/properties.js';
import { writeFileAtomic } from '../core/fs.js';
import type { ModelRegistry } from './registry.js';

/** One version in TorchServe's `model_snapshot` format. */
export interface SnapshotVersion {
  readonly defaultVersion: boolean;
  readonly marName: string;
  readonly minWorkers: number;
  readonly maxWorkers: number;
  readonly batchSize: number;
  readonly maxBatchDelay: number;
  readonly responseTimeout: number;
  readonly startupTimeout: number;
  readonly runtimeType: string;
}

/** TorchServe's `model_snapshot` value. */
export interface ModelSnapshot {
  readonly name: string;
  readonly modelCount: number;
  readonly models: Readonly<Record<string, Readonly<Record<string, SnapshotVersion>>>>;
}

/** Why a snapshot is written: TorchServe's file suffixes. */
export type SnapshotKind = 'startup' | 'snapshot' | 'shutdown';

/** The registry's state as a snapshot. */
export function takeSnapshot(registry: ModelRegistry, kind: SnapshotKind): ModelSnapshot {
  const models: Record<string, Record<string, SnapshotVersion>> = {};
  let modelCount = 0;
  for (const { name, version, isDefault } of registry.entries()) {
    modelCount++;
    const settings = version.settings;
    (models[name] ??= {})[version.version] = {
      defaultVersion: isDefault,
      marName: version.url,
      minWorkers: settings.minWorkers,
      maxWorkers: settings.maxWorkers,
      batchSize: settings.batchSize,
      maxBatchDelay: settings.maxBatchDelay,
      responseTimeout: settings.responseTimeout,
      startupTimeout: settings.startupTimeout,
      runtimeType: version.archive.manifest.runtime,
    };
  }
  return { name: `${kind}.cfg`, modelCount, models };
}

function timestamp(date: Date): string {
  const pad = (value: number, width = 2) => String(value).padStart(width, '0');
  return `${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}${pad(date.getMilliseconds(), 3)}`;
}

/**
 * Writes `<dir>/<yyyyMMddHHmmssSSS>-<kind>.cfg`: the server's config properties plus
 * `model_snapshot`, atomically (temp file, fsync, rename), so a crash never leaves a torn
 * snapshot for the next start to read. Returns the path.
 */
export function writeSnapshot(dir: string, kind: SnapshotKind, config: ReadonlyMap<string, string>, snapshot: ModelSnapshot, now = new Date()): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Two changes in one millisecond must not overwrite each other: names sort by time, so step on.
  const taken = new Set(readdirSync(dir));
  let at = now.getTime();
  while (taken.has(`${timestamp(new Date(at))}-${kind}.cfg`)) at++;
  const name = `${timestamp(new Date(at))}-${kind}.cfg`;
  const entries = [...config].filter(([key]) => key !== 'model_snapshot');
  entries.push(['model_snapshot', JSON.stringify(snapshot)]);
  const path = join(dir, name);
  writeFileAtomic(path, [new TextEncoder().encode(formatProperties(entries))]);
  return path;
}
