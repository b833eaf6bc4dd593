/**
 * The server's resolved configuration: TorchServe's config.properties keys, CLI flags and
 * `TS_*` environment variables, validated once and frozen (spec §6 and §7). Defaults live in
 * {@link DEFAULT_SERVER_CONFIG} and nowhere else. What each key accepts is in ./config-values.ts,
 * how the config file is found in ./config-files.ts; both are re-exported from here.
 */
import { BlockList } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { KilnError } from '../core/errors.js';
import { DEFAULT_WORKER_MEMORY_MIB } from '../serving/isolation.js';
import { MAX_WORKERS } from '../core/serving-limits.js';
import { SERVING_SETTINGS } from '../core/serving-settings.js';
import type { ListenAddress, LoadModels, MetricsMode, ModelSettings, ModelSnapshot, ServiceEnvelope } from './config-values.js';
import type { MetricsTextFormat } from '../metrics/torchserve-text.js';
import { bool, PropertiesSchema, type PropertyKey } from './config-values.js';

// What moved out of this module stays importable from here, the server's one config entry point.
export { findConfigFile, findLatestSnapshot, locateConfigFile } from './config-files.js';
export type { ConfigFileSource, LocatedConfigFile } from './config-files.js';
export type {
  ListenAddress,
  LoadModels,
  MetricsMode,
  ModelSettings,
  ModelSnapshot,
  ModelVersionSettings,
  ServiceEnvelope,
  SnapshotModelVersion,
  StartupModel,
} from './config-values.js';

/** The resolved, frozen server configuration. Sizes are bytes, timeouts seconds, delays ms. */
export interface ServerConfig {
  /** `inference_address`. @defaultValue `http://127.0.0.1:8080` */
  readonly inferenceAddress: ListenAddress;
  /** `management_address`. @defaultValue `http://127.0.0.1:8081` */
  readonly managementAddress: ListenAddress;
  /** `metrics_address`. @defaultValue `http://127.0.0.1:8082` */
  readonly metricsAddress: ListenAddress;
  /**
   * `grpc_inference_port`: the Open Inference Protocol over gRPC on 127.0.0.1 at this port (0: a
   * free one). TorchServe always opens 7070; kiln only when asked. @defaultValue undefined (off)
   */
  readonly grpcInferencePort: number | undefined;
  /**
   * `grpc_inference_address`: the host the gRPC listener binds (TorchServe's key and default).
   * Beyond loopback only while token authorization is off, since gRPC requests carry no token.
   * @defaultValue '127.0.0.1'
   */
  readonly grpcInferenceAddress: string;
  /** `model_store` or `--model-store`, as given. @defaultValue undefined (registering by name → 404) */
  readonly modelStore: string | undefined;
  /** `load_models` or `--models`. Ignored by serving when {@link modelSnapshot} is present (TorchServe). @defaultValue [] */
  readonly loadModels: LoadModels;
  /** `default_workers_per_model`; 0 means one per CPU, as TorchServe without GPUs. @defaultValue 1 */
  readonly defaultWorkersPerModel: number;
  /** Batch size of a model registered without one (TorchServe's registration default). @defaultValue 1 */
  readonly batchSize: number;
  /** Max batch delay (ms) of a model registered without one. @defaultValue 100 */
  readonly maxBatchDelay: number;
  /** `job_queue_size`, per model. @defaultValue 100 */
  readonly jobQueueSize: number;
  /**
   * `worker_isolation`: where handlers run unless an archive's `handler.isolation` says
   * otherwise. `auto` runs user handler files in a process each and built-in handlers in
   * threads. @defaultValue 'auto'
   */
  readonly workerIsolation: 'auto' | 'process' | 'thread';
  /** `worker_max_memory_mib`: a worker process's memory ceiling, unless `handler.maxMemoryMiB` says otherwise. @defaultValue 4096 */
  readonly workerMaxMemoryMiB: number;
  /**
   * `spare_handler_thread` (kiln's own): keep one handler thread started, its modules loaded,
   * so a model served in a thread starts its first worker without that start-up. @defaultValue true
   */
  readonly spareHandlerThread: boolean;
  /** `max_request_size` in bytes (larger → 413). @defaultValue 6553500 */
  readonly maxRequestSize: number;
  /** `max_response_size` in bytes. @defaultValue 6553500 */
  readonly maxResponseSize: number;
  /** `default_response_timeout` in seconds. @defaultValue 120 */
  readonly defaultResponseTimeout: number;
  /** `default_startup_timeout` in seconds. @defaultValue 120 */
  readonly defaultStartupTimeout: number;
  /** `unregister_model_timeout` in seconds. @defaultValue 120 */
  readonly unregisterModelTimeout: number;
  /** `allowed_urls`: comma-separated, each a full-match, case-insensitive pattern. @defaultValue [] (model store only) */
  readonly allowedUrls: readonly RegExp[];
  /** `enable_model_api`; undefined means on when management listens on loopback ({@link isModelApiEnabled}). */
  readonly enableModelApi: boolean | undefined;
  /** `disable_token_authorization`; undefined means off while inference and management are on loopback ({@link isTokenAuthRequired}). */
  readonly disableTokenAuthorization: boolean | undefined;
  /** `token_expiration_min`. @defaultValue 60 */
  readonly tokenExpirationMin: number;
  /** `decode_input_request`. @defaultValue true */
  readonly decodeInputRequest: boolean;
  /** `cors_allowed_origin`; when set, sent as Access-Control-Allow-Origin. @defaultValue undefined */
  readonly corsAllowedOrigin: string | undefined;
  /** `cors_allowed_methods`. @defaultValue undefined */
  readonly corsAllowedMethods: string | undefined;
  /** `cors_allowed_headers`. @defaultValue undefined */
  readonly corsAllowedHeaders: string | undefined;
  /**
   * `service_envelope` (also `TS_SERVICE_ENVELOPE` with `enable_envvars_config=true`, as KServe's
   * TorchServe runtime sets it): `kserve` wraps every handler route in KServe v1 bodies.
   * @defaultValue undefined (bodies reach handlers as sent)
   */
  readonly serviceEnvelope: ServiceEnvelope | undefined;
  /** `metrics_mode`. @defaultValue 'prometheus' */
  readonly metricsMode: MetricsMode;
  /** `enable_metrics_api`. @defaultValue true */
  readonly enableMetricsApi: boolean;
  /**
   * `metrics_text_format` (kiln only): `torchserve` writes TorchServe's families exactly as
   * TorchServe does (`Requests2XX{Level="Host",Hostname="h",} 11.0`); `standard` in prom-client's
   * form, without the trailing commas. @defaultValue 'torchserve'
   */
  readonly metricsTextFormat: MetricsTextFormat;
  /** `disable_system_metrics`: no CPUUtilization, Memory*, Disk* or GPU* families. @defaultValue false */
  readonly disableSystemMetrics: boolean;
  /** `private_key_file` (PEM) for `https://` listeners. @defaultValue undefined */
  readonly privateKeyFile: string | undefined;
  /** `certificate_file` (PEM) for `https://` listeners. @defaultValue undefined */
  readonly certificateFile: string | undefined;
  /** `keystore` (PKCS12 only; Node cannot read JKS) for `https://` listeners. @defaultValue undefined */
  readonly keystore: string | undefined;
  /** `keystore_pass`. @defaultValue undefined */
  readonly keystorePass: string | undefined;
  /** `model_snapshot`: present when the file read was a snapshot. @defaultValue undefined */
  readonly modelSnapshot: ModelSnapshot | undefined;
  /** `models=` per-model, per-version settings. @defaultValue {} */
  readonly models: ModelSettings;
  /** `LOG_LOCATION` from the environment. @defaultValue 'logs' */
  readonly logLocation: string;
  /** Where snapshots are read and written: `{logLocation}/config`. @defaultValue 'logs/config' */
  readonly snapshotDir: string;
  /** False with `--ncs`: no snapshot is read at start or written later. @defaultValue true */
  readonly configSnapshots: boolean;
}

/** Everything {@link resolveServerConfig} reads. */
export interface ServerConfigOptions {
  /** The parsed config file (see `parseProperties`), if one was found. */
  readonly properties?: ReadonlyMap<string, string>;
  /** `kiln serve` flags; undefined means "not given". */
  readonly flags?: {
    readonly modelStore?: string;
    readonly models?: readonly string[];
    readonly ncs?: boolean;
    /** Accepted for symmetry with the CLI; it changes nothing in the configuration. */
    readonly foreground?: boolean;
    readonly disableTokenAuth?: boolean;
    readonly enableModelApi?: boolean;
  };
  /** Environment variables. @defaultValue process.env */
  readonly env?: Env;
}

type Env = Readonly<Record<string, string | undefined>>;

const LOG_LOCATION_DEFAULT = 'logs';

/** The configuration with nothing set: every default, written once. */
export const DEFAULT_SERVER_CONFIG: ServerConfig = deepFreeze({
  inferenceAddress: { protocol: 'http', host: '127.0.0.1', port: 8080 },
  managementAddress: { protocol: 'http', host: '127.0.0.1', port: 8081 },
  metricsAddress: { protocol: 'http', host: '127.0.0.1', port: 8082 },
  grpcInferencePort: undefined,
  grpcInferenceAddress: '127.0.0.1',
  modelStore: undefined,
  loadModels: [],
  defaultWorkersPerModel: SERVING_SETTINGS.minWorkers.default,
  batchSize: SERVING_SETTINGS.batchSize.default,
  maxBatchDelay: SERVING_SETTINGS.maxBatchDelay.default,
  jobQueueSize: SERVING_SETTINGS.jobQueueSize.default,
  workerIsolation: 'auto',
  workerMaxMemoryMiB: DEFAULT_WORKER_MEMORY_MIB,
  spareHandlerThread: true,
  maxRequestSize: 6553500,
  maxResponseSize: 6553500,
  defaultResponseTimeout: SERVING_SETTINGS.responseTimeout.default,
  defaultStartupTimeout: SERVING_SETTINGS.startupTimeout.default,
  unregisterModelTimeout: SERVING_SETTINGS.unregisterModelTimeout.default,
  allowedUrls: [],
  enableModelApi: undefined,
  disableTokenAuthorization: undefined,
  tokenExpirationMin: 60,
  decodeInputRequest: true,
  corsAllowedOrigin: undefined,
  corsAllowedMethods: undefined,
  corsAllowedHeaders: undefined,
  serviceEnvelope: undefined,
  metricsMode: 'prometheus',
  enableMetricsApi: true,
  metricsTextFormat: 'torchserve',
  disableSystemMetrics: false,
  privateKeyFile: undefined,
  certificateFile: undefined,
  keystore: undefined,
  keystorePass: undefined,
  modelSnapshot: undefined,
  models: {},
  logLocation: LOG_LOCATION_DEFAULT,
  snapshotDir: join(LOG_LOCATION_DEFAULT, 'config'),
  configSnapshots: true,
});

// ---- resolution ---------------------------------------------------------------------------

/** Keys TorchServe never takes from `TS_*` variables (no `TS_` constant in ConfigManager). */
const NOT_FROM_ENV: ReadonlySet<PropertyKey> = new Set(['model_snapshot', 'models', 'enable_envvars_config', 'use_env_allowed_urls']);

/** TorchServe's variable is named after its Java constant, which differs from the key here. */
const ENV_ALIASES: Partial<Record<PropertyKey, readonly string[]>> = { token_expiration_min: ['TS_TOKEN_EXPIRATION_TIME_MIN'] };

interface Setting {
  readonly value: string;
  /** Where the value came from, for error messages. */
  readonly source: string;
}

function invalid(key: string, setting: Setting | undefined, message: string): KilnError {
  const shown = setting === undefined ? '' : `=${JSON.stringify(setting.value.length > 120 ? `${setting.value.slice(0, 117)}...` : setting.value)}`;
  const from = setting === undefined ? '' : ` (from ${setting.source})`;
  return new KilnError('KILN_SERVE_CONFIG_INVALID', `${key}${shown}: ${message}${from}`, {
    details: { key, value: setting?.value, source: setting?.source },
  });
}

/** TorchServe replaces `$$NAME$$` in file values with the environment variable NAME. */
function substituteEnv(key: string, value: string, env: Env): string {
  return value.replace(/\$\$([^$]+[^$])\$\$/g, (_, name: string) => {
    const replacement = env[name];
    if (replacement === undefined) throw invalid(key, { value, source: 'config file' }, `environment variable ${name} is not set`);
    return replacement;
  });
}

/** Merges file < flags < env (env only with `enable_envvars_config=true`), keeping each value's source. */
function mergeSettings(options: ServerConfigOptions, env: Env): Map<string, Setting> {
  const settings = new Map<string, Setting>();
  for (const [key, value] of options.properties ?? []) {
    if (key in PropertiesSchema.shape) settings.set(key, { value: substituteEnv(key, value, env), source: 'config file' });
  }
  const flags = options.flags ?? {};
  const flagValues: Array<[PropertyKey, string, string | undefined]> = [
    ['model_store', '--model-store', flags.modelStore],
    ['load_models', '--models', flags.models?.join(',')],
    ['enable_model_api', '--enable-model-api', flags.enableModelApi?.toString()],
    ['disable_token_authorization', '--disable-token-auth', flags.disableTokenAuth?.toString()],
  ];
  for (const [key, source, value] of flagValues) if (value !== undefined) settings.set(key, { value, source });
  const fileFlag = (key: PropertyKey): boolean => {
    const setting = settings.get(key);
    const parsed = setting && bool.safeParse(setting.value.trim());
    if (parsed && !parsed.success) throw invalid(key, setting, 'must be true or false');
    return parsed?.data === true;
  };
  if (fileFlag('enable_envvars_config')) {
    // TorchServe ignores TS_ALLOWED_URLS unless use_env_allowed_urls=true: a URL allow-list is security policy.
    const urlsFromEnv = fileFlag('use_env_allowed_urls');
    for (const key of Object.keys(PropertiesSchema.shape) as PropertyKey[]) {
      if (NOT_FROM_ENV.has(key) || (key === 'allowed_urls' && !urlsFromEnv)) continue;
      for (const name of [`TS_${key.toUpperCase()}`, ...(ENV_ALIASES[key] ?? [])]) {
        const value = env[name];
        if (value !== undefined) settings.set(key, { value, source: name });
      }
    }
  }
  return settings;
}

/**
 * Resolves the server configuration: env `TS_<KEY>` (only when the file sets
 * `enable_envvars_config=true`) over flags over the file, over {@link DEFAULT_SERVER_CONFIG}.
 * Every value is validated; unknown keys are ignored; an empty value counts as unset.
 * @throws KilnError `KILN_SERVE_CONFIG_INVALID` naming the key, the value and its source.
 * @example
 * const config = resolveServerConfig({ properties: parseProperties(text), flags: { modelStore: 'store' } });
 */
export function resolveServerConfig(options: ServerConfigOptions = {}): ServerConfig {
  const env = options.env ?? process.env;
  const settings = mergeSettings(options, env);
  const raw = Object.fromEntries(
    [...settings].map(([key, setting]) => [key, setting.value.trim()] as const).filter(([, value]) => value !== ''),
  );
  const parsed = PropertiesSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const [key, ...inner] = issue.path.map(String);
    const where = inner.length > 0 ? `${inner.join('.')}: ` : '';
    throw invalid(key!, settings.get(key!), `${where}${issue.message}`);
  }
  const p = parsed.data;
  const d = DEFAULT_SERVER_CONFIG;
  const logLocation = env['LOG_LOCATION'] || d.logLocation;
  const config: ServerConfig = {
    inferenceAddress: p.inference_address ?? d.inferenceAddress,
    managementAddress: p.management_address ?? d.managementAddress,
    metricsAddress: p.metrics_address ?? d.metricsAddress,
    grpcInferencePort: p.grpc_inference_port ?? d.grpcInferencePort,
    grpcInferenceAddress: p.grpc_inference_address ?? d.grpcInferenceAddress,
    modelStore: p.model_store ?? d.modelStore,
    loadModels: p.load_models ?? d.loadModels,
    defaultWorkersPerModel: p.default_workers_per_model === 0 ? Math.min(availableParallelism(), MAX_WORKERS) : (p.default_workers_per_model ?? d.defaultWorkersPerModel),
    batchSize: d.batchSize,
    maxBatchDelay: d.maxBatchDelay,
    jobQueueSize: p.job_queue_size ?? d.jobQueueSize,
    workerIsolation: p.worker_isolation ?? d.workerIsolation,
    workerMaxMemoryMiB: p.worker_max_memory_mib ?? d.workerMaxMemoryMiB,
    spareHandlerThread: p.spare_handler_thread ?? d.spareHandlerThread,
    maxRequestSize: p.max_request_size ?? d.maxRequestSize,
    maxResponseSize: p.max_response_size ?? d.maxResponseSize,
    defaultResponseTimeout: p.default_response_timeout ?? d.defaultResponseTimeout,
    defaultStartupTimeout: p.default_startup_timeout ?? d.defaultStartupTimeout,
    unregisterModelTimeout: p.unregister_model_timeout ?? d.unregisterModelTimeout,
    allowedUrls: p.allowed_urls ?? d.allowedUrls,
    enableModelApi: p.enable_model_api ?? d.enableModelApi,
    disableTokenAuthorization: p.disable_token_authorization ?? d.disableTokenAuthorization,
    tokenExpirationMin: p.token_expiration_min ?? d.tokenExpirationMin,
    decodeInputRequest: p.decode_input_request ?? d.decodeInputRequest,
    corsAllowedOrigin: p.cors_allowed_origin ?? d.corsAllowedOrigin,
    corsAllowedMethods: p.cors_allowed_methods ?? d.corsAllowedMethods,
    corsAllowedHeaders: p.cors_allowed_headers ?? d.corsAllowedHeaders,
    serviceEnvelope: p.service_envelope ?? d.serviceEnvelope,
    metricsMode: p.metrics_mode ?? d.metricsMode,
    enableMetricsApi: p.enable_metrics_api ?? d.enableMetricsApi,
    metricsTextFormat: p.metrics_text_format ?? d.metricsTextFormat,
    disableSystemMetrics: p.disable_system_metrics ?? d.disableSystemMetrics,
    privateKeyFile: p.private_key_file ?? d.privateKeyFile,
    certificateFile: p.certificate_file ?? d.certificateFile,
    keystore: p.keystore ?? d.keystore,
    keystorePass: p.keystore_pass ?? d.keystorePass,
    modelSnapshot: p.model_snapshot ?? d.modelSnapshot,
    models: p.models ?? d.models,
    logLocation,
    snapshotDir: join(logLocation, 'config'),
    configSnapshots: options.flags?.ncs !== true,
  };
  // Spec §1: never serve an unauthenticated management API beyond this machine.
  if (config.disableTokenAuthorization === true && !isLoopback(config.managementAddress)) {
    throw invalid('disable_token_authorization', settings.get('disable_token_authorization'), 'token authorization cannot be disabled while management_address is not a loopback address');
  }
  // gRPC requests carry no token: a gRPC listener beyond loopback would bypass the inference key.
  if (config.grpcInferencePort !== undefined && !isLoopback(config.grpcInferenceAddress) && isTokenAuthRequired(config)) {
    throw invalid('grpc_inference_address', settings.get('grpc_inference_address'), 'the gRPC listener can leave loopback only with token authorization off (gRPC requests carry no token)');
  }
  return deepFreeze(config);
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

/**
 * True when only this machine can reach the address: 127.0.0.0/8, ::1 (also IPv4-mapped),
 * `localhost`, or a unix socket. `0.0.0.0` and `::` are not loopback: they listen everywhere.
 * @example isLoopback('127.0.0.1') // true
 */
export function isLoopback(address: ListenAddress | string): boolean {
  if (typeof address !== 'string') {
    if (address.protocol === 'unix') return true;
    return isLoopback(address.host);
  }
  const host = address.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (host === 'localhost') return true;
  try {
    return LOOPBACK.check(host, host.includes(':') ? 'ipv6' : 'ipv4');
  } catch {
    return false; // a host name: it may resolve anywhere
  }
}

/** Whether the server registers models before it listens: a snapshot's, or `load_models`/`--models`. */
export function loadsModelsAtStart(config: ServerConfig): boolean {
  return config.modelSnapshot !== undefined || config.loadModels === 'all' || config.loadModels.length > 0;
}

/** Whether the management model API (register, unregister, scale) is on: explicit, else on loopback only. */
export function isModelApiEnabled(config: ServerConfig): boolean {
  return config.enableModelApi ?? isLoopback(config.managementAddress);
}

/** Whether inference and management requests need a token: explicit, else unless both listen on loopback. */
export function isTokenAuthRequired(config: ServerConfig): boolean {
  if (config.disableTokenAuthorization !== undefined) return !config.disableTokenAuthorization;
  return !(isLoopback(config.inferenceAddress) && isLoopback(config.managementAddress));
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !(value instanceof RegExp) && !Object.isFrozen(value)) {
    for (const field of Object.values(value)) deepFreeze(field);
    Object.freeze(value);
  }
  return value;
}
