/**
 * The REST calls the reliability tests make against a harness server, and the checks they
 * share: the documented JSON error, the control model's answer, a model's workers.
 */
import assert from 'node:assert/strict';
import { writeUnaryTensorArchive } from '../fixtures/archives.js';
import { call, type ServerUnderTest } from '../e2e/server/harness.js';

export type Reply = Awaited<ReturnType<typeof call>>;

/** One worker as describe reports it. */
export interface WorkerRow {
  readonly id: string;
  readonly pid: number;
  readonly status: string;
}

/** `POST /models` for `url`, one worker, waiting for it. */
export function register(server: ServerUnderTest, url: string, timeoutMs = 60_000): Promise<Reply> {
  const query = `url=${encodeURIComponent(url)}&initial_workers=1&synchronous=true`;
  return call(`${server.management}/models?${query}`, { method: 'POST', signal: AbortSignal.timeout(timeoutMs) });
}

export function unregister(server: ServerUnderTest, name: string): Promise<Reply> {
  return call(`${server.management}/models/${encodeURIComponent(name)}`, { method: 'DELETE', signal: AbortSignal.timeout(60_000) });
}

/** The names `GET /models` lists. */
export async function modelNames(server: ServerUnderTest): Promise<string[]> {
  const reply = await call(`${server.management}/models?limit=1000`);
  return (reply.body as { models: { modelName: string }[] }).models.map((model) => model.modelName);
}

/** The workers of a model's default version (none when it is not registered). */
export async function workers(server: ServerUnderTest, name: string): Promise<WorkerRow[]> {
  const reply = await call(`${server.management}/models/${encodeURIComponent(name)}`);
  if (reply.status !== 200) return [];
  return (reply.body as { workers: WorkerRow[] }[])[0]!.workers;
}

/** `POST /predictions/<name>` with a text body. */
export function predictText(server: ServerUnderTest, name: string, text: string, timeoutMs = 90_000): Promise<Reply> {
  return call(`${server.inference}/predictions/${encodeURIComponent(name)}`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: text,
    signal: AbortSignal.timeout(timeoutMs),
  });
}

/** The documented error body: TorchServe's `{code, type, message}`, with code = the status. */
export function assertErrorBody(reply: Reply, context: string): void {
  const body = reply.body as { code?: unknown; type?: unknown; message?: unknown };
  assert.equal(typeof body, 'object', `${context}: not JSON: ${reply.text.slice(0, 200)}`);
  assert.equal(body.code, reply.status, `${context}: body code ${String(body.code)} for status ${reply.status}`);
  assert.equal(typeof body.type, 'string', `${context}: no type`);
  assert.equal(typeof body.message, 'string', `${context}: no message`);
}

/** The control model: `y = -x` through the built-in tensor handler. */
export const CONTROL = 'control';

export async function registerControl(server: ServerUnderTest): Promise<void> {
  await writeUnaryTensorArchive(server.store, CONTROL, 'Neg');
  const reply = await register(server, `${CONTROL}.mar`);
  assert.equal(reply.status, 200, reply.text);
}

/** Asserts the control model answers `-x` for a fresh x. */
export async function assertControlAnswers(server: ServerUnderTest, context: string): Promise<void> {
  const x = [Math.random(), 2, -3];
  const reply = await call(`${server.inference}/predictions/${CONTROL}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: { x: { dims: [1, 3], data: x } } }),
    signal: AbortSignal.timeout(30_000),
  });
  assert.equal(reply.status, 200, `${context}: control answered ${reply.status} ${reply.text.slice(0, 300)}`);
  const y = (reply.body as { outputs: { y: { data: number[] } } }).outputs.y.data;
  // float32 on the wire: equal to -x within float32 rounding.
  const right = y.length === 3 && y.every((value, index) => Math.abs(value + x[index]!) <= 1e-6);
  assert.ok(right, `${context}: control answered ${JSON.stringify(y)} for x = ${JSON.stringify(x)}`);
}
