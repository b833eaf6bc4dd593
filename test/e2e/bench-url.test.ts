/**
 * `kiln bench --url` (issue 14) through the real CLI against a real `kiln serve`: a short sweep
 * over TorchServe routes and OIP v2 (generated inputs, JSON and binary), checked against the
 * server's own counters — every request the bench reports (and its probe and warm-up) moved
 * `ts_inference_requests_total` by exactly one, so a bench that drops or double-counts fails.
 * A stub server answering 500 shows errors are counted, not timed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from '../../src/cli/main.js';
import { writeUnaryTensorArchive } from '../fixtures/archives.js';
import { call, startServer, type ServerUnderTest } from './server/harness.js';

const KILN = new URL('../../bin/kiln.mjs', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-url-'));
const requestFile = join(dir, 'neg.json');
writeFileSync(requestFile, JSON.stringify({ inputs: { x: { dims: [1, 3], data: [1, -2, 3] } } }));

let server: ServerUnderTest;
let stub: Server;
let stubUrl: string;

before(async () => {
  server = await startServer();
  await writeUnaryTensorArchive(server.store, 'neg', 'Neg');
  assert.equal((await call(`${server.management}/models?url=neg.mar&initial_workers=1&synchronous=true`, { method: 'POST' })).status, 200);
  stub = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(500, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ code: 500, type: 'InternalServerException', message: 'stub failure' }));
    });
  });
  await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
  stubUrl = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
});
after(async () => {
  await server?.stop();
  await new Promise((resolve) => stub?.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI without blocking this process (the stub server answers from here). */
function kiln(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [KILN, ...args], { env: { ...process.env, KILN_DEBUG: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

async function served(): Promise<number> {
  const text = (await call(`${server.metrics}/metrics`)).text;
  return text
    .split('\n')
    .filter((line) => line.startsWith('ts_inference_requests_total{') && line.includes('model_name="neg"'))
    .reduce((total, line) => total + Number(line.split(' ').at(-1)), 0);
}

interface Level {
  concurrency: number;
  requests: number;
  warmupRequests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
  statusCodes: Record<string, number>;
}
interface Report {
  protocol: string;
  model: string;
  input: string;
  probe: { status: number };
  results: Level[];
}

/** The CLI in this process, for the runs that fail before any load: no process start-up to wait for. */
async function kilnHere(...args: string[]): Promise<{ status: number; stderr: string }> {
  const lines: string[] = [];
  const status = await runCli(['bench', ...args], { out: () => undefined, err: (text) => lines.push(text), interactive: false });
  return { status, stderr: lines.map((line) => `${line}\n`).join('') };
}

/** Runs a sweep at 1 and 4 clients and checks the report against the server's counter. */
async function sweep(...args: string[]): Promise<Report> {
  const before = await served();
  const run = await kiln('bench', ...args, '--concurrency', '1,4', '--duration', '0.5', '--warmup', '0.2', '--json');
  assert.equal(run.status, 0, run.stderr);
  const report = JSON.parse(run.stdout) as Report;
  assert.equal(report.probe.status, 200);
  assert.deepEqual(report.results.map((level) => level.concurrency), [1, 4]);
  for (const level of report.results) {
    assert.ok(level.requests > 0, `${level.concurrency} clients: no requests`);
    assert.equal(level.errors, 0, JSON.stringify(level));
    assert.ok(level.p50Ms > 0 && level.p50Ms <= level.p90Ms && level.p90Ms <= level.p99Ms, JSON.stringify(level));
    assert.ok(level.requestsPerSecond > 0);
  }
  const sent = 1 + report.results.reduce((total, level) => total + level.requests + level.warmupRequests, 0);
  assert.equal((await served()) - before, sent, 'the server counted exactly the probe, warm-up and measured requests');
  return report;
}

test('TorchServe route: request files, model from --model', async () => {
  const report = await sweep('--url', server.inference, '--model', 'neg', '--input', requestFile);
  assert.equal(report.protocol, 'torchserve');
  assert.equal(report.input, requestFile);
});

test('OIP v2: inputs generated from the model metadata, model and protocol from the URL', async () => {
  const report = await sweep('--url', `${server.inference}/v2/models/neg`);
  assert.equal(report.protocol, 'oip');
  assert.match(report.input, /generated \(seed 1, JSON\): x FP32\[1,3\] \(declared \[1,3\]\)/);
});

test('OIP v2 with the binary tensor extension', async () => {
  const report = await sweep('--url', `${server.inference}/v2/models/neg/infer`, '--binary');
  assert.match(report.input, /binary tensor extension/);
});

test('a server answering 500: every response is an error, and the table says which', async () => {
  const run = await kiln('bench', '--url', `${stubUrl}/predictions/m`, '--input', requestFile, '--concurrency', '2', '--duration', '0.5', '--warmup', '0');
  assert.equal(run.status, 0, run.stderr);
  const row = /^\s*2\s+(\d+)\s+[\d.]+\s+-\s+-\s+-\s+(\d+)$/m.exec(run.stdout);
  assert.ok(row, run.stdout);
  assert.ok(Number(row[1]) > 0);
  assert.equal(row[2], row[1], 'every response counted as an error');
  assert.match(run.stdout, new RegExp(`errors at 2 clients: ${row[1]}× 500`));
});

test('an unknown model is one line naming it, for both protocols; an unreachable server too', async () => {
  const torchserve = await kilnHere('--url', server.inference, '--model', 'nope', '--input', requestFile, '--duration', '0.5');
  assert.equal(torchserve.status, 1);
  assert.match(torchserve.stderr, /^kiln: .*\/predictions\/nope: model 'nope' not found \(torchserve\): .* \[KILN_CLI_BENCH_MODEL_NOT_FOUND\]\n$/);
  const oip = await kilnHere('--url', server.inference, '--protocol', 'oip', '--model', 'nope', '--model-version', '2.0');
  assert.equal(oip.status, 1);
  assert.match(oip.stderr, /^kiln: .*\/v2\/models\/nope\/versions\/2\.0: model 'nope' version 2\.0 not found \(oip\).* \[KILN_CLI_BENCH_MODEL_NOT_FOUND\]\n$/);
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const down = await kilnHere('--url', `http://127.0.0.1:${port}/predictions/m`, '--input', requestFile);
  assert.equal(down.status, 1);
  assert.match(down.stderr, /^kiln: cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED \[KILN_CLI_BENCH_UNREACHABLE\]\n$/);
});

test('bad flags are usage errors (exit 2)', async () => {
  const cases: [string[], RegExp][] = [
    [['--url', server.inference, '--model', 'neg'], /--protocol torchserve sends request files: give --input/],
    [['--url', 'ftp://x/predictions/m', '--input', requestFile], /--url must be an http:\/\/ or https:\/\/ URL/],
    [['--url', `${server.inference}/v2/models/neg`, '--protocol', 'torchserve', '--input', requestFile], /--protocol 'torchserve' disagrees with the URL, which names 'oip'/],
    [['--url', `${server.inference}/predictions/neg`, '--input', requestFile, '--concurrency', '0'], /--concurrency must be a positive whole number/],
    [['--url', `${server.inference}/predictions/neg`, '--input', requestFile, '--threads', '2'], /--threads applies to a model file/],
    [['--url', `${server.inference}/predictions/neg`, '--input', requestFile, '--binary'], /--binary applies to generated inputs/],
  ];
  for (const [args, message] of cases) {
    const run = await kilnHere(...args);
    assert.equal(run.status, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, message);
    assert.match(run.stderr, /\[KILN_CLI_USAGE\]\n$/);
  }
});
