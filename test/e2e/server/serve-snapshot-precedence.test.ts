/**
 * The README scenario behind issue 15: a run with `--ts-config` in a folder, then a plain
 * `kiln serve --model-store model_store` there. As in TorchServe, the newest snapshot is the
 * config file when no `--ts-config` is given (its addresses and models come back), `--ts-config`
 * replaces it, and `--ncs` ignores it; `kiln serve` says which file it read and prints one line
 * per API, so the move is never silent.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeUnaryTensorArchive } from '../../fixtures/archives.js';

const KILN = new URL('../../../bin/kiln.mjs', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'kiln-snapshot-precedence-'));
after(async () => {
  await kiln('stop'); // in case an assertion left one running
  rmSync(root, { recursive: true, force: true });
});

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs kiln in `root` as a user would (logs/ in the working directory), with a private pid file. */
function kiln(...args: string[]): Promise<Run> {
  const env: Record<string, string | undefined> = { ...process.env, TMPDIR: join(root, 'tmp'), KILN_LOG_LEVEL: 'warn', KILN_DEBUG: '' };
  delete env['LOG_LOCATION'];
  delete env['TS_CONFIG_FILE'];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [KILN, ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** A port that was free a moment ago (the snapshot must name a fixed one for the test to mean anything). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function address(stdout: string, api: string): string {
  const found = new RegExp(`^${api} +(http://\\S+)$`, 'm').exec(stdout)?.[1];
  assert.ok(found, `no ${api} line in:\n${stdout}`);
  return found;
}

async function models(management: string): Promise<string[]> {
  const body = (await (await fetch(`${management}/models`)).json()) as { models: { modelName: string }[] };
  return body.models.map((model) => model.modelName);
}

test('plain kiln serve after a --ts-config run: the snapshot is read, named, and its addresses printed; --ts-config and --ncs bypass it', async () => {
  mkdirSync(join(root, 'tmp'));
  mkdirSync(join(root, 'model_store'));
  await writeUnaryTensorArchive(join(root, 'model_store'), 'relu', 'Relu');
  const port = await freePort();
  const listeners = (inference: string) => [`inference_address=${inference}`, 'management_address=http://127.0.0.1:0', 'metrics_address=http://127.0.0.1:0'].join('\n');
  writeFileSync(join(root, 'custom.properties'), listeners(`http://127.0.0.1:${port}`));

  // 1. A run with --ts-config; a model registered; stopped (a shutdown snapshot is written).
  const first = await kiln('serve', '--ts-config', 'custom.properties', '--model-store', 'model_store');
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /^kiln started \(pid \d+\)/);
  assert.match(first.stdout, /^config +custom\.properties \(from --ts-config\)$/m);
  assert.equal(address(first.stdout, 'inference'), `http://127.0.0.1:${port}`);
  const registered = await fetch(`${address(first.stdout, 'management')}/models?url=relu.mar&initial_workers=1`, { method: 'POST' });
  assert.equal(registered.status, 200, await registered.text());
  assert.equal((await kiln('stop')).status, 0);
  assert.ok(readdirSync(join(root, 'logs', 'config')).some((name) => name.endsWith('-shutdown.cfg')));

  // 2. The README's plain command: TorchServe reads the newest snapshot, addresses and models included.
  const plain = await kiln('serve', '--model-store', 'model_store');
  assert.equal(plain.status, 0, plain.stderr);
  assert.match(plain.stdout, /^config +logs\/config\/\d{17}-shutdown\.cfg \(the newest snapshot: its addresses, settings and models are restored; --ncs starts without it\)$/m);
  assert.equal(address(plain.stdout, 'inference'), `http://127.0.0.1:${port}`);
  assert.match(plain.stdout, /^metrics +http:\/\/127\.0\.0\.1:\d+$/m);
  assert.deepEqual(await models(address(plain.stdout, 'management')), ['relu']);
  assert.equal((await kiln('stop')).status, 0);

  // 3. --ts-config beats the snapshot: its listeners, and no model restored.
  writeFileSync(join(root, 'other.properties'), listeners('http://127.0.0.1:0'));
  const explicit = await kiln('serve', '--ts-config', 'other.properties', '--model-store', 'model_store');
  assert.equal(explicit.status, 0, explicit.stderr);
  assert.notEqual(address(explicit.stdout, 'inference'), `http://127.0.0.1:${port}`);
  assert.deepEqual(await models(address(explicit.stdout, 'management')), []);
  assert.equal((await kiln('stop')).status, 0);

  // 4. --ncs: the snapshot is ignored and ./config.properties is read.
  writeFileSync(join(root, 'config.properties'), listeners('http://127.0.0.1:0'));
  const ncs = await kiln('serve', '--model-store', 'model_store', '--ncs');
  assert.equal(ncs.status, 0, ncs.stderr);
  assert.match(ncs.stdout, /^config +.*config\.properties \(found in the working directory\)$/m);
  assert.deepEqual(await models(address(ncs.stdout, 'management')), []);
  assert.equal((await kiln('stop')).status, 0);
});
