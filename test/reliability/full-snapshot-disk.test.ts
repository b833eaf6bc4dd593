/**
 * A snapshot that cannot be written is never acknowledged (issue #11: with the snapshot folder on
 * a full disk, five registrations answered 200 and a restart lost them all). Two ways to break
 * the disk: a real full tmpfs under the snapshot folder where `mount` is allowed (root here), and
 * an injected failure that works everywhere, even as root where chmod stops nothing: a plain file
 * where the snapshot folder should be.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { writeNoopArchive } from '../fixtures/archives.js';
import { call, type ServerUnderTest } from '../e2e/server/harness.js';
import { assertSnapshotsWhole, keptFolders, modelNames, register, restartFromSnapshot, startFresh } from './snapshot-helpers.js';

const servers: ServerUnderTest[] = [];
after(async () => {
  for (const server of servers) if (server.process.exitCode === null && server.process.signalCode === null) await server.kill();
});

async function writeModels(store: string, names: readonly string[]): Promise<void> {
  for (const name of names) await writeNoopArchive(store, { name });
}

function assertRefused(response: { status: number; body: any; text: string }, reason: RegExp, undone: RegExp): void {
  assert.equal(response.status, 500, response.text);
  assert.equal(response.body.code, 500);
  assert.equal(response.body.type, 'InternalServerException');
  assert.match(response.body.message, /^Cannot write the config snapshot: /);
  assert.match(response.body.message, reason);
  assert.match(response.body.message, undone);
}

describe('a full disk under the snapshot folder (tmpfs)', () => {
  const folders = keptFolders('kiln-fulldisk-');
  let mounted = false;
  after(() => {
    if (mounted) execFileSync('umount', [folders.snapshots]);
    rmSync(folders.root, { recursive: true, force: true });
  });

  test('five registrations on a full disk answer 500 and are not registered; a restart has every acknowledged model', async (t) => {
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', folders.snapshots], { stdio: 'pipe' });
      mounted = true;
    } catch (error) {
      t.skip(`cannot mount a tmpfs here (${String((error as Error).message).split('\n')[0]}); the injected-failure variant below still runs`);
      return;
    }
    const acknowledged = ['a0', 'a1', 'a2'];
    const refused = ['f0', 'f1', 'f2', 'f3', 'f4'];
    await writeModels(folders.store, [...acknowledged, ...refused]);
    const server = await startFresh(folders);
    servers.push(server);
    for (const name of acknowledged) assert.equal((await register(server, `${name}.mar`)).status, 200);

    // Fill the tmpfs to the last byte.
    const filler = openSync(join(folders.snapshots, 'filler'), 'w');
    try {
      for (;;) writeSync(filler, Buffer.alloc(4096, 1));
    } catch (error) {
      assert.equal((error as NodeJS.ErrnoException).code, 'ENOSPC');
    } finally {
      closeSync(filler);
    }

    for (const name of refused) {
      assertRefused(await register(server, `${name}.mar`), /no space left on device/, /the registration was rolled back\.$/);
      assert.equal((await call(`${server.management}/models/${name}`)).status, 404);
    }
    assertRefused(await call(`${server.management}/models/a0?min_worker=1&synchronous=true`, { method: 'PUT' }), /no space/, /the workers were not scaled\.$/);
    assertRefused(await call(`${server.management}/models/a1`, { method: 'DELETE' }), /no space/, /nothing was unregistered\.$/);
    assert.deepEqual(await modelNames(server), acknowledged);

    await server.kill();
    const restarted = await restartFromSnapshot(folders);
    servers.push(restarted);
    assert.deepEqual(await modelNames(restarted), acknowledged, 'every acknowledged model is back, and none refused');
    assert.ok(assertSnapshotsWhole(folders.snapshots) >= acknowledged.length);
    await restarted.stop();
  });
});

describe('a snapshot write that fails (injected: a file where the snapshot folder should be)', () => {
  const folders = keptFolders('kiln-snapfail-');
  after(() => rmSync(folders.root, { recursive: true, force: true }));

  test('each management change answers 500, changes nothing, and a restart has exactly what was acknowledged', async () => {
    await writeModels(folders.store, ['a0', 'a1', 'b0', 'c0']);
    const server = await startFresh(folders);
    servers.push(server);
    for (const name of ['a0', 'a1']) assert.equal((await register(server, `${name}.mar`)).status, 200);

    const saved = `${folders.snapshots}.saved`;
    renameSync(folders.snapshots, saved);
    writeFileSync(folders.snapshots, 'not a folder');
    assertRefused(await register(server, 'b0.mar'), /.+/, /the registration was rolled back\.$/);
    assert.equal((await call(`${server.management}/models/b0`)).status, 404);
    assertRefused(await call(`${server.management}/models/a0?min_worker=1&synchronous=true`, { method: 'PUT' }), /.+/, /the workers were not scaled\.$/);
    assert.equal((await call(`${server.management}/models/a0`)).body[0].minWorkers, 0);
    assertRefused(await call(`${server.management}/models/a1`, { method: 'DELETE' }), /.+/, /nothing was unregistered\.$/);
    assert.equal((await call(`${server.management}/models/a1`)).status, 200);

    // The disk is back: changes are acknowledged again.
    rmSync(folders.snapshots);
    renameSync(saved, folders.snapshots);
    assert.equal((await register(server, 'c0.mar')).status, 200);
    assert.deepEqual(await modelNames(server), ['a0', 'a1', 'c0']);

    await server.kill();
    const restarted = await restartFromSnapshot(folders);
    servers.push(restarted);
    assert.deepEqual(await modelNames(restarted), ['a0', 'a1', 'c0']);
    assertSnapshotsWhole(folders.snapshots);
    await restarted.stop();
  });
});
