import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatProperties } from '../core/properties.js';
import { writeFileAtomic } from '../core/fs.js';
import type { ModelRegistry } from './registry.js';
import { snapshotSettings } from './settings.js';
import type { RequiredSnapshotSettingName, SnapshotSettingName } from '../core/serving-settings.js';

/**
 * Per-version settings of config.properties `models=` (all optional) and of a snapshot entry:
 * the snapshot settings of the one table (src/core/serving-settings.ts), plus TorchServe's
 * bookkeeping fields.
 */
export type ModelVersionSettings = {
  readonly defaultVersion?: boolean;
  readonly marName?: string;
  readonly runtimeType?: string;
} & { readonly [K in SnapshotSettingName]?: number };

/** `models=` JSON: model name → version → settings. */
export type ModelSettings = Readonly<Record<string, Readonly<Record<string, ModelVersionSettings>>>>;

/** One version in a snapshot: TorchServe always writes these fields (the timeouts since 0.8). */
export type SnapshotModelVersion = ModelVersionSettings & Required<Pick<ModelVersionSettings, 'defaultVersion' | 'marName' | RequiredSnapshotSettingName>>;

/** TorchServe's `model_snapshot` JSON, written into every `*-snapshot.cfg`. */
export interface ModelSnapshot {
  readonly name: string;
  readonly modelCount: number;
  readonly models: Readonly<Record<string, Readonly<Record<string, SnapshotModelVersion>>>>;
}

/** Why a snapshot is written: TorchServe's file suffixes. */
export type SnapshotKind = 'startup' | 'snapshot' | 'shutdown';

/**
 * The registry's acknowledged state as a snapshot (see `ModelRegistry.durableEntries`); models of
 * workflows are left out.
 */
export function takeSnapshot(registry: ModelRegistry, kind: SnapshotKind): ModelSnapshot {
  const models: Record<string, Record<string, SnapshotModelVersion>> = {};
  let modelCount = 0;
  for (const { name, version, isDefault, settings } of registry.durableEntries()) {
    // Workflows are not restored from snapshots, so neither are their models (TorchServe's rule).
    if (version.workflow !== undefined) continue;
    modelCount++;
    (models[name] ??= {})[version.version] = {
      defaultVersion: isDefault,
      marName: version.url,
      ...snapshotSettings(settings),
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
 * `model_snapshot`, atomically and durably (temp file, fsync, rename, fsync of the directory),
 * so a crash never leaves a torn snapshot for the next start to read, nor loses one that was
 * acknowledged. Returns the path; throws `KILN_IO_WRITE_FAILED` when it cannot.
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
