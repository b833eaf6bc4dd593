import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KilnError } from '../../core/errors.js';
import { readFileChecked } from '../../core/fs.js';
import { createLogger } from '../../core/log.js';
import { parseProperties } from '../../core/properties.js';
import { createServerMetrics } from '../../metrics/registry.js';
import { KilnServer } from '../../server/app.js';
import { DEFAULT_SERVER_CONFIG, findConfigFile, resolveServerConfig, type ListenAddress } from '../../server/config.js';
import type { CliIO } from '../io.js';

/** Flags of `kiln serve`, TorchServe's names. */
export interface ServeFlags {
  readonly modelStore?: string;
  readonly models?: readonly string[];
  readonly tsConfig?: string;
  readonly foreground: boolean;
  readonly ncs: boolean;
  readonly disableTokenAuth?: boolean;
  readonly enableModelApi?: boolean;
}

/** Where a background server's pid is kept, for `kiln stop`. */
export function pidFile(): string {
  return join(tmpdir(), 'kiln.pid');
}

/** Resolves config.properties, flags and environment into the server's configuration. */
export function loadServeConfig(flags: ServeFlags) {
  const env = process.env;
  const snapshotDir = join(env['LOG_LOCATION'] ?? DEFAULT_SERVER_CONFIG.logLocation, 'config');
  const file = findConfigFile({ ...(flags.tsConfig ? { tsConfig: flags.tsConfig } : {}), env, ncs: flags.ncs, snapshotDir });
  const properties = file ? parseProperties(readFileChecked(file, 'config file').toString('utf8')) : new Map<string, string>();
  const config = resolveServerConfig({
    properties,
    env,
    flags: {
      ncs: flags.ncs,
      ...(flags.modelStore ? { modelStore: flags.modelStore } : {}),
      ...(flags.models?.length ? { models: flags.models } : {}),
      ...(flags.disableTokenAuth !== undefined ? { disableTokenAuth: flags.disableTokenAuth } : {}),
      ...(flags.enableModelApi !== undefined ? { enableModelApi: flags.enableModelApi } : {}),
    },
  });
  // Keep what the operator wrote (minus an old snapshot) so snapshots reproduce it.
  properties.delete('model_snapshot');
  if (flags.modelStore) properties.set('model_store', resolve(flags.modelStore));
  return { config, properties, file };
}

/** `kiln serve --foreground`: runs the server in this process until SIGTERM or SIGINT. */
export async function runServeForeground(flags: ServeFlags, io: CliIO): Promise<void> {
  const { config, properties, file } = loadServeConfig(flags);
  const logger = createLogger({ base: { component: 'kiln-serve' } });
  const server = await KilnServer.start({ config, properties, logger, metrics: createServerMetrics({ metricsMode: config.metricsMode }) });
  const addresses = server.addresses();
  io.out(`kiln serving${file ? ` (config ${file})` : ''}: inference ${addresses.inference}, management ${addresses.management}${addresses.metrics ? `, metrics ${addresses.metrics}` : ''}${addresses.grpc ? `, grpc ${addresses.grpc}` : ''}${server.keyFile ? `; tokens in ${server.keyFile}` : ''}`);
  await new Promise<void>((done) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'stopping: draining in-flight requests');
      void server.stop().then(done, (error: unknown) => {
        logger.error({ err: error }, 'stop failed');
        done();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  // A handler abandoned after a response timeout may still hold timers or sockets; the server
  // has drained and written its snapshot, so nothing of value is lost by leaving now.
  process.exit(0);
}

/** `kiln serve` without --foreground: starts a detached server, waits until it answers, and returns. */
export async function runServeBackground(argv: readonly string[], flags: ServeFlags, io: CliIO): Promise<void> {
  const { config } = loadServeConfig(flags);
  if (existsSync(pidFile())) {
    const pid = Number(readFileSync(pidFile(), 'utf8'));
    if (isRunning(pid)) throw new KilnError('KILN_SERVE_CONFIG_INVALID', `kiln is already running (pid ${pid}); use kiln stop first`);
  }
  mkdirSync(config.logLocation, { recursive: true });
  const log = openSync(join(config.logLocation, 'kiln.log'), 'a');
  const child = spawn(process.execPath, [process.argv[1]!, 'serve', '--foreground', ...argv], { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  writeFileSync(pidFile(), String(child.pid), { mode: 0o600 });
  const started = await waitUntilServing(config.inferenceAddress, () => child.exitCode !== null, STARTUP_WAIT_MS);
  child.unref();
  if (!started) {
    rmSync(pidFile(), { force: true });
    if (child.exitCode === null) process.kill(child.pid!, 'SIGTERM');
    throw new KilnError('KILN_SERVE_CONFIG_INVALID', `the server did not start within ${STARTUP_WAIT_MS / 1000} s or exited; see ${join(config.logLocation, 'kiln.log')}`);
  }
  io.out(`kiln started (pid ${child.pid}); logs in ${join(config.logLocation, 'kiln.log')}; stop it with kiln stop`);
}

/** How long `kiln serve` waits for a background server to answer /ping. */
const STARTUP_WAIT_MS = 180_000;

/** Any HTTP answer from /ping (TLS certificate checks skipped: only liveness matters here). */
function pingOnce(address: ListenAddress): Promise<boolean> {
  return new Promise((resolvePing) => {
    const options =
      address.protocol === 'unix'
        ? { socketPath: address.path, path: '/ping' }
        : { host: address.host, port: address.port, path: '/ping', rejectUnauthorized: false };
    const request = (address.protocol === 'https' ? httpsRequest : httpRequest)(options, (response) => {
      response.resume();
      resolvePing(true);
    });
    request.setTimeout(1000, () => request.destroy());
    request.on('error', () => resolvePing(false));
    request.end();
  });
}

async function waitUntilServing(address: ListenAddress, exited: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited()) return false;
    if (await pingOnce(address)) return true;
    await new Promise((done) => setTimeout(done, 200));
  }
  return false;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** `kiln stop`: SIGTERM to the background server, then wait for it to drain and exit. */
export async function runStop(io: CliIO): Promise<void> {
  if (!existsSync(pidFile())) throw new KilnError('KILN_SERVE_CONFIG_INVALID', 'kiln is not running (no pid file)');
  const pid = Number(readFileSync(pidFile(), 'utf8'));
  if (!isRunning(pid)) {
    rmSync(pidFile(), { force: true });
    throw new KilnError('KILN_SERVE_CONFIG_INVALID', `kiln is not running (pid ${pid} is gone)`);
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 60_000;
  while (isRunning(pid) && Date.now() < deadline) await new Promise((done) => setTimeout(done, 100));
  rmSync(pidFile(), { force: true });
  io.out(isRunning(pid) ? `kiln (pid ${pid}) did not stop within 60 s` : `kiln stopped (pid ${pid})`);
}
