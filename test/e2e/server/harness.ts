/**
 * Starts a real `kiln serve --foreground` child process on loopback ports chosen by the OS and
 * talks to it over real HTTP. Every test suite gets its own model store, log folder and server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const KILN = new URL('../../../bin/kiln.mjs', import.meta.url).pathname;

/** A running server and where its APIs are. */
export interface ServerUnderTest {
  readonly inference: string;
  readonly management: string;
  readonly metrics: string;
  /** `grpc://127.0.0.1:<port>` when `grpc_inference_port` is set, else ''. */
  readonly grpc: string;
  readonly store: string;
  readonly logs: string;
  readonly process: ChildProcess;
  /** The server's working directory (where key_file.json goes). */
  readonly root: string;
  /** SIGTERM, then wait for the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: no shutdown snapshot, no clean-up. */
  kill(): Promise<void>;
}

/** Options of {@link startServer}. */
export interface StartOptions {
  /** Extra config.properties lines. */
  readonly properties?: readonly string[];
  /** A model store to reuse (kept by the caller). */
  readonly store?: string;
  readonly logs?: string;
  readonly args?: readonly string[];
}

export async function startServer(options: StartOptions = {}): Promise<ServerUnderTest> {
  const root = mkdtempSync(join(tmpdir(), 'kiln-serve-'));
  const store = options.store ?? join(root, 'model_store');
  const logs = options.logs ?? join(root, 'logs');
  mkdirSync(store, { recursive: true });
  const config = join(root, 'config.properties');
  writeFileSync(
    config,
    ['inference_address=http://127.0.0.1:0', 'management_address=http://127.0.0.1:0', 'metrics_address=http://127.0.0.1:0', `model_store=${store}`, ...(options.properties ?? [])].join('\n'),
  );
  const args = options.args ?? ['--ts-config', config];
  const child = spawn(process.execPath, [KILN, 'serve', '--foreground', ...args], {
    cwd: root,
    env: { ...process.env, LOG_LOCATION: logs, KILN_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // The server prints its startup block (config, then one `<api> <address>` line per API) in one write.
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.endsWith('\n')) resolve(out);
    });
    child.once('exit', (code) => reject(new Error(`kiln serve exited with ${code}: ${stderr}`)));
  });
  const found = (api: string) => new RegExp(`^${api} +(http://\\S+)$`, 'm').exec(line)?.[1] ?? '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    inference: found('inference'),
    management: found('management'),
    metrics: found('metrics'),
    grpc: /^grpc +(grpc:\/\/\S+)$/m.exec(line)?.[1] ?? '',
    store,
    logs,
    root,
    process: child,
    async stop() {
      child.kill('SIGTERM');
      const code = await exited;
      if (!options.store) rmSync(root, { recursive: true, force: true });
      return code;
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A fetch that returns status, headers and the parsed JSON (or text) body. */
export async function call(url: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; body: any; text: string }> {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, headers: response.headers, body, text };
}
