/**
 * Starting the model server from code: what `kiln serve --foreground` does, as one typed call.
 * The configuration comes from the same places with the same precedence (environment `TS_*`
 * when `enable_envvars_config` is set, then these options, then the config file, then the
 * defaults); only what the caller passes is read, so a library user's process environment and
 * working directory do not change the server unless handed over.
 */
import { join } from 'node:path';
import { readFileChecked } from '../core/fs.js';
import { createLogger, type Logger } from '../core/log.js';
import { parseProperties } from '../core/properties.js';
import { createServerMetrics } from '../metrics/server-metrics.js';
import { KilnServer } from './app.js';
import { DEFAULT_SERVER_CONFIG, findLatestSnapshot, resolveServerConfig } from './config.js';

/** What {@link startServer} reads. Every field is optional: no field gives TorchServe's defaults (ports 8080-8082 on localhost). */
export interface StartServerOptions {
  /** A `config.properties` file to read, as `--ts-config` names it. */
  readonly configFile?: string;
  /** `config.properties` keys set from code (`inference_address`, `load_models`, …); they win over the file's. */
  readonly properties?: Readonly<Record<string, string>>;
  /** The folder of model archives (`model_store`). */
  readonly modelStore?: string;
  /** Archives to load at start: `['all']`, or `[name=]file.mar` entries of the model store. */
  readonly models?: readonly string[];
  /**
   * Config snapshots, as `kiln serve` keeps them: restore the latest from `<log_location>/config`
   * when no config file is given, and write one on every change. Off by default: a program
   * starting a server should not pick up the state of an earlier run. @defaultValue false
   */
  readonly snapshots?: boolean;
  /** Serve without tokens (loopback listeners only). @defaultValue false (tokens required, as TorchServe does) */
  readonly disableTokenAuth?: boolean;
  /** Allow registering and unregistering models over the management API. @defaultValue false */
  readonly enableModelApi?: boolean;
  /** Environment read for `TS_*` overrides and `LOG_LOCATION`. @defaultValue none (`{}`); pass `process.env` to behave as `kiln serve` */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where `key_file.json` goes when token auth is on. @defaultValue the working directory */
  readonly keyFileDir?: string;
  /** @defaultValue JSON lines on standard error at `info` (`KILN_LOG_LEVEL` overrides) */
  readonly logger?: Logger;
}

/**
 * Starts kiln's model server (TorchServe's inference, management and metrics APIs, and KServe's
 * Open Inference Protocol) and resolves once it listens with its startup models loaded. Stop it
 * with `server.stop()`, which drains in-flight requests first.
 * @example
 * const server = await startServer({ modelStore: 'model_store', models: ['all'], properties: { inference_address: 'http://127.0.0.1:0' } });
 * console.log(server.addresses().inference);
 * await server.stop();
 */
export async function startServer(options: StartServerOptions = {}): Promise<KilnServer> {
  const env = options.env ?? {};
  const snapshots = options.snapshots ?? false;
  const properties = options.configFile ? parseProperties(readFileChecked(options.configFile, 'config file').toString('utf8')) : new Map<string, string>();
  if (!options.configFile && snapshots) {
    const logLocation = options.properties?.['log_location'] ?? env['LOG_LOCATION'] ?? DEFAULT_SERVER_CONFIG.logLocation;
    const latest = findLatestSnapshot(join(logLocation, 'config'));
    if (latest) for (const [key, value] of parseProperties(readFileChecked(latest, 'config snapshot').toString('utf8'))) properties.set(key, value);
  }
  for (const [key, value] of Object.entries(options.properties ?? {})) properties.set(key, value);
  const config = resolveServerConfig({
    properties,
    env,
    flags: {
      ncs: !snapshots,
      ...(options.modelStore !== undefined ? { modelStore: options.modelStore } : {}),
      ...(options.models?.length ? { models: options.models } : {}),
      ...(options.disableTokenAuth !== undefined ? { disableTokenAuth: options.disableTokenAuth } : {}),
      ...(options.enableModelApi !== undefined ? { enableModelApi: options.enableModelApi } : {}),
    },
  });
  properties.delete('model_snapshot');
  const logger = options.logger ?? createLogger({ base: { component: 'kiln-server' } });
  return KilnServer.start({
    config,
    properties,
    logger,
    metrics: createServerMetrics({ metricsMode: config.metricsMode }),
    ...(options.keyFileDir !== undefined ? { keyFileDir: options.keyFileDir } : {}),
  });
}
