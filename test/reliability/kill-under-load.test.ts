/**
 * kill -9 under load: predictions and management changes in flight when the server dies. A
 * restart on the same snapshot folder must have every registration that was answered 200 and
 * none that was unregistered with a 200, and every snapshot on disk must be whole (no torn file).
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, test } from 'node:test';
import { writeNoopArchive } from '../fixtures/archives.js';
import { call, type ServerUnderTest } from '../e2e/server/harness.js';
import { assertSnapshotsWhole, keptFolders, modelNames, register, restartFromSnapshot, startFresh } from './snapshot-helpers.js';

const MODELS = 60;
const CLIENTS = 8;
const folders = keptFolders('kiln-kill9-');
const servers: ServerUnderTest[] = [];
after(async () => {
  for (const server of servers) if (server.process.exitCode === null && server.process.signalCode === null) await server.kill();
  rmSync(folders.root, { recursive: true, force: true });
});

test('every acknowledged registration survives kill -9 under load, and no snapshot is torn', async () => {
  await writeNoopArchive(folders.store, { name: 'base' });
  for (let i = 0; i < MODELS; i++) await writeNoopArchive(folders.store, { name: `m${i}` });
  const server = await startFresh(folders);
  servers.push(server);
  assert.equal((await call(`${server.management}/models?url=base.mar&initial_workers=1`, { method: 'POST' })).status, 200);

  let running = true;
  let predicted = 0;
  const clients = Array.from({ length: CLIENTS }, async () => {
    while (running) {
      try {
        const response = await call(`${server.inference}/predictions/base`, { method: 'POST', body: 'x' });
        if (response.status === 200) predicted++;
      } catch {
        return; // the server is gone
      }
    }
  });

  // Management changes, two at a time, until the kill: registrations, scaling, unregistrations.
  // A change still unanswered at the kill may or may not have happened; answered ones must have.
  const registered = new Set<string>(['base']);
  const unregistered = new Set<string>();
  const unregistering = new Set<string>();
  let next = 0;
  const manager = async () => {
    while (running && next < MODELS) {
      const index = next++;
      const name = `m${index}`;
      try {
        if ((await register(server, `${name}.mar`)).status !== 200) continue;
        registered.add(name);
        if (index % 3 === 0) await call(`${server.management}/models/${name}?min_worker=1&synchronous=true`, { method: 'PUT' });
        if (index % 4 === 0) {
          unregistering.add(name);
          if ((await call(`${server.management}/models/${name}`, { method: 'DELETE' })).status === 200) {
            registered.delete(name);
            unregistered.add(name);
          }
          unregistering.delete(name);
        }
      } catch {
        return;
      }
    }
  };
  const managers = [manager(), manager()];

  // Kill once a good part of the changes are acknowledged, with more still in flight.
  while (registered.size < MODELS / 3) await new Promise((resolve) => setTimeout(resolve, 10));
  await server.kill();
  running = false;
  await Promise.all([...clients, ...managers]);
  assert.ok(predicted > 0, 'predictions were running when the server was killed');

  const restarted = await restartFromSnapshot(folders);
  servers.push(restarted);
  const names = new Set(await modelNames(restarted));
  for (const name of registered) {
    if (!unregistering.has(name)) assert.ok(names.has(name), `${name} was acknowledged but is missing after the restart`);
  }
  for (const name of unregistered) assert.ok(!names.has(name), `${name} was unregistered (200) but came back`);
  assert.ok(assertSnapshotsWhole(folders.snapshots) > 0);
  // What came back works: described whole, and the base model answers.
  for (const name of names) assert.equal((await call(`${restarted.management}/models/${name}`)).status, 200, name);
  assert.equal((await call(`${restarted.inference}/predictions/base`, { method: 'POST', body: 'x' })).status, 200);
  await restarted.stop();
});
