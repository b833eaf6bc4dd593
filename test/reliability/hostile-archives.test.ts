/**
 * The hostile-archive corpus against one real server (issue 11): every kind is registered over
 * REST next to a healthy control model. Whatever the kind does, the server stays up, answers
 * the documented JSON error with a fitting status, the control model keeps answering right on
 * the same worker, nothing lands outside the folders kiln controls, no spawned child outlives
 * its worker, and the model can be unregistered again.
 *
 * The server's TMPDIR is a private folder, so the extraction folders it leaves behind can be
 * counted exactly. Kinds marked `todo` fail on main for a reason named in the kind; kinds that
 * need process isolation (or bounded model-config values) are skipped until the server has it.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { call, startServer, type ServerUnderTest } from '../e2e/server/harness.js';
import { HOSTILE_KINDS, type HostileKind, type Written } from './hostile-archives.js';
import { ECHO_HANDLER, handlerMar, manifest, writeMar } from './hostile/kind.js';
import { assertAttack, assertRegistration } from './hostile/outcome.js';
import { eventually, pidsWithArgument } from './proc.js';
import { assertControlAnswers, CONTROL, modelNames, register, registerControl, unregister, workers, type WorkerRow } from './served.js';

let server: ServerUnderTest;
let scratch: string;
let serverTmp: string;
let controlWorker: WorkerRow;
const capabilities = { isolation: false, bounds: false };

/** The extraction folders in the server's TMPDIR (the control model's stays throughout). */
const extractions = () => readdirSync(serverTmp).filter((name) => name.startsWith('kiln-extract-')).sort();
let baseline: string[] = [];

describe('hostile archives', { timeout: 240_000 }, () => {
  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'kiln-hostile-'));
    serverTmp = join(scratch, 'server-tmp');
    mkdirSync(serverTmp);
    const previous = process.env['TMPDIR'];
    process.env['TMPDIR'] = serverTmp;
    try {
      server = await startServer();
    } finally {
      if (previous === undefined) delete process.env['TMPDIR'];
      else process.env['TMPDIR'] = previous;
    }
    await registerControl(server);
    await assertControlAnswers(server, 'at start');
    [controlWorker] = (await workers(server, CONTROL)) as [WorkerRow];
    capabilities.isolation = await probeIsolation();
    capabilities.bounds = await probeBounds();
    baseline = extractions();
  });

  after(async () => {
    assert.equal(await server.stop(), 0, 'the server exits cleanly after the corpus');
    rmSync(scratch, { recursive: true, force: true });
  });

  it(`has at least 50 kinds (${HOSTILE_KINDS.length})`, () => {
    assert.ok(HOSTILE_KINDS.length >= 50);
  });

  for (const kind of HOSTILE_KINDS) {
    it(`${kind.group}: ${kind.name}`, kind.todo ? { todo: kind.todo } : {}, async (t) => {
      if (kind.requires === 'isolation' && !capabilities.isolation) return t.skip('needs process isolation for user handlers (not on this server)');
      if (kind.requires === 'bounds' && !capabilities.bounds) return t.skip('needs bounded model-config.yaml values (unbounded, it starts 300 workers)');
      await runKind(t, kind);
    });
  }
});

async function runKind(t: TestContext, kind: HostileKind): Promise<void> {
  const listed = new Set(await modelNames(server));
  const written = await kind.write({ store: server.store, scratch });
  try {
    const reply = await register(server, written.url);
    assertRegistration(kind.expect, reply);
    if (kind.expect.outcome === 'serves') await assertAttack(server, kind.name, kind.expect);
  } finally {
    await cleanUp(t, listed, written).finally(async () => {
      // A model that could not be unregistered keeps its folder: count from here on, so one
      // failure does not fail every later kind.
      if ((await modelNames(server)).some((name) => !listed.has(name))) baseline = extractions();
    });
  }
  await assertContained(kind.name, written);
}

/** Unregisters whatever the kind registered, then checks no child it spawned is left. */
async function cleanUp(t: TestContext, listed: Set<string>, written: Written): Promise<void> {
  for (const name of await modelNames(server)) {
    if (listed.has(name)) continue;
    const reply = await unregister(server, name);
    assert.equal(reply.status, 200, `unregistering ${name.slice(0, 80)}: ${reply.status} ${reply.text.slice(0, 300)}`);
  }
  if (written.childMarker) {
    const gone = await eventually(() => pidsWithArgument(written.childMarker!).length === 0, 5_000);
    const left = pidsWithArgument(written.childMarker);
    for (const pid of left) process.kill(pid, 'SIGKILL');
    assert.ok(gone, `the handler's child 'sleep ${written.childMarker}' (pid ${left.join(', ')}) outlived its worker`);
  }
  if (written.escapeFile) {
    // In a thread or a process of the server's user, kiln cannot stop a handler's file access.
    t.diagnostic(`${written.escapeFile}: ${existsSync(written.escapeFile) ? 'written (file access is not sandboxed)' : 'not written'}`);
    rmSync(written.escapeFile, { force: true });
  }
}

/** The server is up, the control model answers on its own worker, and nothing escaped. */
async function assertContained(name: string, written: Written): Promise<void> {
  assert.equal(server.process.exitCode, null, `the server exited after ${name}`);
  assert.equal((await call(`${server.inference}/ping`)).status, 200, `/ping after ${name}`);
  await assertControlAnswers(server, `after ${name}`);
  assert.deepEqual(await workers(server, CONTROL).then((rows) => rows.map((row) => row.id)), [controlWorker.id], `control's worker after ${name}`);
  for (const path of written.mustNotExist ?? []) assert.ok(!existsSync(path), `${name} wrote ${path}`);
  assert.ok(await eventually(() => extractions().join() === baseline.join(), 5_000), `${name} left extraction folders: ${extractions().join(', ')}`);
}

/** True when a user handler's worker runs in a process of its own (describe's pid). */
async function probeIsolation(): Promise<boolean> {
  handlerMar(server.store, 'probe-isolation', ECHO_HANDLER);
  assert.equal((await register(server, 'probe-isolation.mar')).status, 200);
  const [worker] = await workers(server, 'probe-isolation');
  await unregister(server, 'probe-isolation');
  return worker !== undefined && worker.pid !== server.process.pid;
}

/** True when model-config.yaml worker counts are bounded: a huge maxWorkers (no worker started) is refused. */
async function probeBounds(): Promise<boolean> {
  writeMar(server.store, 'probe-bounds', [
    { name: 'MAR-INF/MANIFEST.json', data: manifest('probe-bounds', { configFile: 'model-config.yaml' }) },
    { name: 'handler.cjs', data: ECHO_HANDLER },
    { name: 'model-config.yaml', data: 'maxWorkers: 100000\n' },
  ]);
  const reply = await call(`${server.management}/models?url=probe-bounds.mar&initial_workers=0&synchronous=true`, { method: 'POST' });
  if (reply.status === 200) await unregister(server, 'probe-bounds');
  return reply.status >= 400 && reply.status < 500;
}
