/**
 * The settings table (src/core/serving-settings.ts) is the one definition REST parsing,
 * snapshots and describe derive from: every REST registration parameter of the table, given a
 * value that is not its default, reaches describe under the table's name, the snapshot writes
 * exactly the table's snapshot settings with the same values, and a server restored from that
 * snapshot describes the same settings again. A model-config.yaml that sets every yaml setting
 * is described with each value.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseProperties } from '../../../src/core/properties.js';
import {
  DESCRIBED_SETTINGS,
  REGISTER_PARAMS,
  SERVING_SETTINGS,
  SNAPSHOT_SETTINGS,
  YAML_SETTINGS,
  type SettingName,
} from '../../../src/core/serving-settings.js';
import { writeNoopArchive } from '../../fixtures/archives.js';
import { call, startServer } from './harness.js';

const root = mkdtempSync(join(tmpdir(), 'kiln-settings-table-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A value within the bound that is not the default (workers: 1, so the test starts one worker). */
function notDefault(name: SettingName, step: number): number {
  if (name === 'minWorkers' || name === 'maxWorkers') return 1;
  const { bound, default: fallback } = SERVING_SETTINGS[name];
  const value = fallback + step;
  return value <= bound.max ? value : bound.max - step;
}

/** The table's settings out of a describe entry or a snapshot entry. */
const settingsOf = (entry: Record<string, unknown>, names: readonly SettingName[]) => Object.fromEntries(names.map((name) => [name, entry[name]]));
const tableKeysIn = (entry: Record<string, unknown>) => Object.keys(entry).filter((key) => Object.hasOwn(SERVING_SETTINGS, key));

test('REST → describe → snapshot → restored server → describe: every setting of the table, by its table names', async () => {
  const store = join(root, 'store');
  const logs = join(root, 'logs');
  await writeNoopArchive(store);
  const given = new Map(REGISTER_PARAMS.map(({ param, setting }, index) => [param, notDefault(setting, index + 3)]));
  const expected: Record<string, number> = Object.fromEntries(DESCRIBED_SETTINGS.map((name) => [name, SERVING_SETTINGS[name].default]));
  for (const { param, setting } of REGISTER_PARAMS) expected[setting] = given.get(param)!;
  // initial_workers sets the minimum, and the maximum follows it.
  expected['maxWorkers'] = expected['minWorkers']!;
  const query = [...given].map(([param, value]) => `${param}=${value}`).join('&');

  const first = await startServer({ store, logs });
  let snapshotEntry: Record<string, unknown>;
  try {
    const registered = await call(`${first.management}/models?url=noop.mar&synchronous=true&${query}`, { method: 'POST' });
    assert.equal(registered.status, 200, JSON.stringify(registered.body));
    const described = (await call(`${first.management}/models/noop`)).body[0] as Record<string, unknown>;
    assert.deepEqual(tableKeysIn(described), [...DESCRIBED_SETTINGS], 'describe reports exactly the table\'s described settings, in table order');
    assert.deepEqual(settingsOf(described, DESCRIBED_SETTINGS), expected);

    const snapshots = readdirSync(join(logs, 'config')).filter((name) => name.endsWith('-snapshot.cfg')).sort();
    const properties = parseProperties(readFileSync(join(logs, 'config', snapshots.at(-1)!), 'utf8'));
    snapshotEntry = JSON.parse(properties.get('model_snapshot')!).models.noop['1.0'];
    assert.deepEqual(tableKeysIn(snapshotEntry), [...SNAPSHOT_SETTINGS], 'the snapshot writes exactly the table\'s snapshot settings, in table order');
    assert.deepEqual(settingsOf(snapshotEntry, SNAPSHOT_SETTINGS), settingsOf(described, SNAPSHOT_SETTINGS));
  } finally {
    await first.stop();
  }

  // Restart without --ts-config: the newest snapshot is the config, and it gives the same settings back.
  const second = await startServer({ store, logs, args: ['--model-store', store] });
  try {
    const restored = (await call(`${second.management}/models/noop`)).body[0] as Record<string, unknown>;
    assert.deepEqual(settingsOf(restored, SNAPSHOT_SETTINGS), settingsOf(snapshotEntry, SNAPSHOT_SETTINGS));
  } finally {
    await second.stop();
  }
});

test('model-config.yaml sets every yaml setting of the table, and describe reports each one', async () => {
  const store = join(root, 'yaml-store');
  const values = Object.fromEntries(YAML_SETTINGS.map((name, index) => [name, notDefault(name, index + 2)]));
  await writeNoopArchive(store, { name: 'yaml', config: Object.entries(values).map(([key, value]) => `${key}: ${value}\n`).join('') });
  const server = await startServer({ store });
  try {
    const registered = await call(`${server.management}/models?url=yaml.mar&synchronous=true`, { method: 'POST' });
    assert.equal(registered.status, 200, JSON.stringify(registered.body));
    const described = (await call(`${server.management}/models/yaml`)).body[0] as Record<string, unknown>;
    const reported = YAML_SETTINGS.filter((name) => SERVING_SETTINGS[name].describe);
    assert.deepEqual(settingsOf(described, reported), settingsOf(values, reported));
    // jobQueueSize is not described: its queue's capacity shows it.
    assert.equal((described['jobQueueStatus'] as { remainingCapacity: number }).remainingCapacity, values['jobQueueSize']);
  } finally {
    await server.stop();
  }
});
