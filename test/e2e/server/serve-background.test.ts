/**
 * `kiln serve` without --foreground (issue 11, acceptance 7): it says "kiln started" only once
 * its server listens, and exits non-zero with the cause on one stderr line when it cannot, even
 * when the port is held by another HTTP server that would answer /ping.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const KILN = new URL('../../../bin/kiln.mjs', import.meta.url).pathname;

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs kiln with its own TMPDIR (so its pid file is private) and log folder. */
function kiln(root: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [KILN, ...args], {
      cwd: root,
      env: { ...process.env, TMPDIR: join(root, 'tmp'), LOG_LOCATION: join(root, 'logs'), KILN_LOG_LEVEL: 'warn', KILN_DEBUG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function setUp(inferencePort: number): string {
  const root = mkdtempSync(join(tmpdir(), 'kiln-bg-'));
  mkdirSync(join(root, 'tmp'));
  mkdirSync(join(root, 'store'));
  writeFileSync(
    join(root, 'config.properties'),
    [`inference_address=http://127.0.0.1:${inferencePort}`, 'management_address=http://127.0.0.1:0', 'metrics_address=http://127.0.0.1:0', `model_store=${join(root, 'store')}`].join('\n'),
  );
  return root;
}

test('the port is held by another HTTP server → non-zero exit, the cause on one stderr line, no "kiln started"', async () => {
  const squatter: Server = createServer((_req, res) => res.end('{"status": "Healthy"}'));
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  const { port } = squatter.address() as { port: number };
  const root = setUp(port);
  try {
    const run = await kiln(root, 'serve', '--ts-config', join(root, 'config.properties'));
    assert.notEqual(run.status, 0, run.stdout);
    assert.doesNotMatch(run.stdout, /kiln started/);
    const lines = run.stderr.trim().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0]!, new RegExp(`^kiln: the server did not start: cannot listen on http://127\\.0\\.0\\.1:${port} for the inference API: .*EADDRINUSE`));
  } finally {
    squatter.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test('a free port → "kiln started" once listening, exit 0; kiln stop stops it', async () => {
  const root = setUp(0);
  try {
    const run = await kiln(root, 'serve', '--ts-config', join(root, 'config.properties'));
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^kiln started \(pid \d+\)/);
    const stopped = await kiln(root, 'stop');
    assert.equal(stopped.status, 0, stopped.stderr);
    assert.match(stopped.stdout, /kiln stopped/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
