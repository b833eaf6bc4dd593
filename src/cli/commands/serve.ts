import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describeError, KilnError } from '../../core/errors.js';
import { readFileChecked } from '../../core/fs.js';
import { createLogger } from '../../core/log.js';
import { parseProperties } from '../../core/properties.js';
import type { KilnServer } from '../../server/app.js';
import { DEFAULT_SERVER_CONFIG, loadsModelsAtStart, locateConfigFile, resolveServerConfig } from '../../server/config.js';
import { prestartHandlerThread } from '../../serving/spare-handler-thread.js';
import { startupLines } from './serve-addresses.js';
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

/**
 * Resolves the config file, flags and environment into the server's configuration, with
 * TorchServe's precedence: env `TS_*` (with `enable_envvars_config`) > flags > the one config
 * file chosen by {@link locateConfigFile} > defaults. `properties` is what snapshots carry: the
 * file's keys plus the flags' values, as TorchServe's snapshots hold its whole configuration.
 */
export function loadServeConfig(flags: ServeFlags) {
  const env = process.env;
  const snapshotDir = join(env['LOG_LOCATION'] ?? DEFAULT_SERVER_CONFIG.logLocation, 'config');
  const located = locateConfigFile({ ...(flags.tsConfig ? { tsConfig: flags.tsConfig } : {}), env, ncs: flags.ncs, snapshotDir });
  const properties = located ? parseProperties(readFileChecked(located.path, 'config file').toString('utf8')) : new Map<string, string>();
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
  // Keep what the operator wrote (minus an old snapshot) and what the flags set, so snapshots reproduce it.
  properties.delete('model_snapshot');
  if (flags.modelStore) properties.set('model_store', resolve(flags.modelStore));
  if (flags.models?.length) properties.set('load_models', flags.models.join(','));
  if (flags.enableModelApi) properties.set('enable_model_api', 'true');
  if (flags.disableTokenAuth) properties.set('disable_token_authorization', 'true');
  return { config, properties, file: located };
}

/** `kiln serve --foreground`: runs the server in this process until SIGTERM or SIGINT. */
export async function runServeForeground(flags: ServeFlags, io: CliIO): Promise<void> {
  const { config, properties, file } = loadServeConfig(flags);
  // The thread that will run the first startup model starts now, and loads onnxruntime and sharp
  // on another core while this one loads the server's modules (≈ 130 ms of imports).
  if (config.spareHandlerThread && loadsModelsAtStart(config)) prestartHandlerThread();
  const [{ KilnServer }, { createServerMetrics }] = await Promise.all([import('../../server/app.js'), import('../../metrics/server-metrics.js')]);
  const logger = createLogger({ base: { component: 'kiln-serve' } });
  let server: KilnServer;
  try {
    server = await KilnServer.start({ config, properties, logger, metrics: createServerMetrics({ metricsMode: config.metricsMode }) });
  } catch (error) {
    await tellParent({ kind: 'failed', message: describeError(error) });
    throw error;
  }
  const lines = startupLines(server.addresses(), file, server.keyFile);
  await tellParent({ kind: 'listening', lines });
  io.out(['kiln serving', ...lines].join('\n'));
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

/** What a background server tells the `kiln serve` that started it, over the IPC channel. */
type StartupMessage = { readonly kind: 'listening'; readonly lines: readonly string[] } | { readonly kind: 'failed'; readonly message: string };

/** Sends `message` to the parent when there is one (a background start), and waits until it is written. */
function tellParent(message: StartupMessage): Promise<void> {
  const send = process.send?.bind(process);
  if (!send || !process.connected) return Promise.resolve();
  return new Promise((resolveSent) => send(message, undefined, undefined, () => resolveSent()));
}

/**
 * `kiln serve` without --foreground: starts a detached server and returns once it says it is
 * listening. It does not ask the port: another process holding it would answer. When the server
 * cannot start, the cause it reports (or its exit code) is the error.
 */
export async function runServeBackground(argv: readonly string[], flags: ServeFlags, io: CliIO): Promise<void> {
  const { config } = loadServeConfig(flags);
  if (existsSync(pidFile())) {
    const pid = Number(readFileSync(pidFile(), 'utf8'));
    if (isRunning(pid)) throw new KilnError('KILN_SERVE_CONFIG_INVALID', `kiln is already running (pid ${pid}); use kiln stop first`);
  }
  mkdirSync(config.logLocation, { recursive: true });
  const logFile = join(config.logLocation, 'kiln.log');
  const log = openSync(logFile, 'a');
  const child = spawn(process.execPath, [process.argv[1]!, 'serve', '--foreground', ...argv], { detached: true, stdio: ['ignore', log, log, 'ipc'] });
  closeSync(log);
  writeFileSync(pidFile(), String(child.pid), { mode: 0o600 });
  const outcome = await startupOutcome(child, STARTUP_WAIT_MS);
  if (child.connected) child.disconnect();
  child.unref();
  if (outcome.kind !== 'listening') {
    rmSync(pidFile(), { force: true });
    if (child.exitCode === null) process.kill(child.pid!, 'SIGTERM');
    throw new KilnError('KILN_SERVE_CONFIG_INVALID', `the server did not start: ${outcome.message} (log: ${logFile})`);
  }
  io.out([`kiln started (pid ${child.pid}); logs in ${logFile}; stop it with kiln stop`, ...outcome.lines].join('\n'));
}

/**
 * The first thing a starting server reports: listening, or failed with its cause. Its IPC
 * channel closes after its last message, so a server that exits is answered with what it said
 * before, or its exit code when it said nothing.
 */
function startupOutcome(child: ChildProcess, timeoutMs: number): Promise<StartupMessage> {
  return new Promise((resolveOutcome) => {
    let failure: string | undefined;
    const timer = setTimeout(() => resolveOutcome({ kind: 'failed', message: `not listening within ${timeoutMs / 1000} s` }), timeoutMs);
    const settle = (outcome: StartupMessage): void => {
      clearTimeout(timer);
      resolveOutcome(outcome);
    };
    child.on('message', (message: StartupMessage) => {
      if (message.kind === 'listening') settle(message);
      else failure = message.message;
    });
    child.once('disconnect', () => {
      const exited = (): void => settle({ kind: 'failed', message: failure ?? `it exited with code ${child.exitCode ?? child.signalCode}` });
      if (child.exitCode !== null || child.signalCode !== null) exited();
      else child.once('exit', exited);
    });
    child.once('error', (error) => settle({ kind: 'failed', message: error.message }));
  });
}

/** How long `kiln serve` waits for a background server to start listening. */
const STARTUP_WAIT_MS = 180_000;

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
