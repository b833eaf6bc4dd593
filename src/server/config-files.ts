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

/**
 * Chooses the config file as TorchServe does: `TS_CONFIG_FILE` > `--ts-config` > the newest
 * snapshot in `snapshotDir` (unless `ncs`) > `./config.properties` when it exists. Explicit
 * paths are returned unchecked so that reading them reports a missing file.
 * @example findConfigFile({ env: process.env, ncs: false, snapshotDir: config.snapshotDir })
 */
export function findConfigFile(options: {
  readonly tsConfig?: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly ncs: boolean;
  readonly snapshotDir: string;
  /** @defaultValue process.cwd() */
  readonly cwd?: string;
}): string | undefined {
  const fromEnv = options.env['TS_CONFIG_FILE'];
  if (fromEnv) return fromEnv;
  if (options.tsConfig) return options.tsConfig;
  const snapshot = options.ncs ? undefined : findLatestSnapshot(options.snapshotDir);
  if (snapshot !== undefined) return snapshot;
  const local = join(options.cwd ?? process.cwd(), 'config.properties');
  return existsSync(local) ? local : undefined;
}
