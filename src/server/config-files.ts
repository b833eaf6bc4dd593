/**
 * Where the server's config file is: TorchServe's lookup order, including the newest
 * `*-snapshot.cfg` under the snapshot directory.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Snapshot file names TorchServe and kiln write: `yyyyMMddHHmmssSSS-{snapshot,startup,shutdown}.cfg`. */
const SNAPSHOT_FILE = /^\d{17}-(?:snapshot|startup|shutdown)\.cfg$/;

/**
 * The newest snapshot in `dir` by the timestamp in its name (fixed width, so the name order is
 * time order; a tie goes to the later name). Other files, and a missing directory, are ignored.
 */
export function findLatestSnapshot(dir: string): string | undefined {
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isFile() && SNAPSHOT_FILE.test(entry.name))
      .map((entry) => entry.name);
  } catch {
    return undefined;
  }
  const newest = names.sort().at(-1);
  return newest === undefined ? undefined : join(dir, newest);
}

/** Why a config file was chosen: the first of TorchServe's sources that names one. */
export type ConfigFileSource = 'TS_CONFIG_FILE' | '--ts-config' | 'snapshot' | 'config.properties';

/** A chosen config file and the reason it was chosen (printed at start, so a restored snapshot is never silent). */
export interface LocatedConfigFile {
  readonly path: string;
  readonly source: ConfigFileSource;
}

/**
 * Chooses the config file as TorchServe's ConfigManager does: `TS_CONFIG_FILE` > `--ts-config` >
 * the newest snapshot in `snapshotDir` (unless `ncs`) > `./config.properties` when it exists.
 * Exactly one file is read: a snapshot replaces config.properties entirely, and `--ts-config`
 * replaces the snapshot (its models are then not restored). Explicit paths are returned
 * unchecked so that reading them reports a missing file.
 * @example locateConfigFile({ env: process.env, ncs: false, snapshotDir: config.snapshotDir })
 */
export function locateConfigFile(options: {
  readonly tsConfig?: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly ncs: boolean;
  readonly snapshotDir: string;
  /** @defaultValue process.cwd() */
  readonly cwd?: string;
}): LocatedConfigFile | undefined {
  const fromEnv = options.env['TS_CONFIG_FILE'];
  if (fromEnv) return { path: fromEnv, source: 'TS_CONFIG_FILE' };
  if (options.tsConfig) return { path: options.tsConfig, source: '--ts-config' };
  const snapshot = options.ncs ? undefined : findLatestSnapshot(options.snapshotDir);
  if (snapshot !== undefined) return { path: snapshot, source: 'snapshot' };
  const local = join(options.cwd ?? process.cwd(), 'config.properties');
  return existsSync(local) ? { path: local, source: 'config.properties' } : undefined;
}

/** {@link locateConfigFile}'s path only. */
export function findConfigFile(options: Parameters<typeof locateConfigFile>[0]): string | undefined {
  return locateConfigFile(options)?.path;
}
