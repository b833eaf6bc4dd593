/** What the durability fault tests share: a kept store and log folder, restarts from the snapshot, listings. */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseProperties } from '../../src/core/properties.js';
import { call, startServer, type ServerUnderTest } from '../e2e/server/harness.js';

/** A model store and log folder that outlive one server, so the next one restarts from the snapshot. */
export function keptFolders(prefix: string): { root: string; store: string; logs: string; snapshots: string } {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const store = join(root, 'model_store');
  const logs = join(root, 'logs');
  mkdirSync(store, { recursive: true });
  mkdirSync(join(logs, 'config'), { recursive: true });
  return { root, store, logs, snapshots: join(logs, 'config') };
}

/** The first server: its config file, with the model API on. */
export function startFresh(folders: { store: string; logs: string }): Promise<ServerUnderTest> {
  return startServer({ store: folders.store, logs: folders.logs, properties: ['enable_model_api=true'] });
}

/** A restart as an operator's would be: no `--ts-config`, so the newest snapshot is the config. */
export function restartFromSnapshot(folders: { store: string; logs: string }): Promise<ServerUnderTest> {
  return startServer({ store: folders.store, logs: folders.logs, args: [] });
}

/** Every registered model name (one page of up to 100). */
export async function modelNames(server: ServerUnderTest): Promise<string[]> {
  const listed = await call(`${server.management}/models?limit=100`);
  return (listed.body.models as Array<{ modelName: string }>).map((model) => model.modelName).sort();
}

/** Registers `url` with no workers; the status and body. */
export function register(server: ServerUnderTest, url: string): Promise<{ status: number; body: any; text: string }> {
  return call(`${server.management}/models?url=${encodeURIComponent(url)}`, { method: 'POST' });
}

/**
 * Every snapshot file in `dir` parses whole: a properties file whose `model_snapshot` is JSON
 * with as many versions as its `modelCount`. Returns how many there are.
 */
export function assertSnapshotsWhole(dir: string): number {
  const files = readdirSync(dir).filter((name) => /^\d{17}-(snapshot|startup|shutdown)\.cfg$/.test(name));
  for (const file of files) {
    const properties = parseProperties(readFileSync(join(dir, file), 'utf8'));
    const text = properties.get('model_snapshot');
    if (text === undefined) throw new Error(`${file} has no model_snapshot`);
    const snapshot = JSON.parse(text) as { modelCount: number; models: Record<string, Record<string, unknown>> };
    const versions = Object.values(snapshot.models).reduce((sum, versions) => sum + Object.keys(versions).length, 0);
    if (versions !== snapshot.modelCount) throw new Error(`${file}: modelCount ${snapshot.modelCount} but ${versions} versions`);
  }
  return files.length;
}
