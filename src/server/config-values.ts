/**
 * What each config key accepts: the value types of `config.properties` (addresses, `load_models`,
 * `models=` and `model_snapshot` JSON) and the zod schemas that parse one property's text into them.
 * {@link PropertiesSchema} lists every key kiln reads; `resolveServerConfig` in ./config.ts merges
 * the sources, applies the defaults and reports the first invalid value.
 */
import { z } from 'zod';
import { nameProblem } from '../core/names.js';
import { boundedInt, type BoundedSetting } from '../core/serving-limits.js';
import {
  REQUIRED_SNAPSHOT_SETTINGS,
  SETTING_PROPERTIES,
  SNAPSHOT_SETTINGS,
  type RequiredSnapshotSettingName,
  type SettingProperty,
  type SnapshotSettingName,
} from '../core/serving-settings.js';
import type { ModelVersionSettings } from '../serving/snapshot.js';
import { MAX_WORKER_MEMORY_MIB, MIN_WORKER_MEMORY_MIB } from '../serving/isolation.js';

/** Where a listener binds: a TCP host and port (`http://`, `https://`) or a unix socket (`unix:/path`). */
export type ListenAddress =
  | { readonly protocol: 'http' | 'https'; readonly host: string; readonly port: number }
  | { readonly protocol: 'unix'; readonly path: string };

// The snapshot format is serving's (it writes snapshots); config only reads it back.
export type { ModelSnapshot, ModelSettings, ModelVersionSettings, SnapshotModelVersion } from '../serving/snapshot.js';

/** One `load_models` entry, `[name=]url` (a file in the model store, or an allowed URL). */
export interface StartupModel {
  readonly name?: string;
  readonly url: string;
}

/** `load_models`: every archive in the model store, or a list (empty for none). */
export type LoadModels = 'all' | readonly StartupModel[];

/**
 * `service_envelope`: `kserve` makes every handler route take and answer KServe v1 bodies
 * (`{"instances": [...]}` in, `{"predictions": [...]}` out; see handlers/kserve-envelope.ts);
 * `kservev2` changes nothing, since kiln answers the Open Inference Protocol (`/v2/...`) itself.
 */
export type ServiceEnvelope = 'kserve' | 'kservev2';

/** `metrics_mode`: kiln defaults to Prometheus text; `log` and `legacy` are TorchServe's. */
export type MetricsMode = 'prometheus' | 'log' | 'legacy';

// ---- value schemas: each takes the property's (trimmed, non-empty) text -------------------

const wholeNumber = (min: 0 | 1) =>
  z
    .string()
    .regex(/^[+-]?\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, min === 0 ? 'must not be negative' : 'must be at least 1')
        .max(Number.MAX_SAFE_INTEGER, 'is too large'),
    );

/** A whole number within the shared bound of `setting` (core/serving-limits). */
const boundedWhole = (setting: BoundedSetting) =>
  z
    .string()
    .regex(/^[+-]?\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(boundedInt(setting));

const positiveDecimal = z
  .string()
  .regex(/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/, 'must be a number')
  .transform(Number)
  .pipe(z.number().positive('must be greater than 0').max(Number.MAX_SAFE_INTEGER, 'is too large'));

/** `true` or `false`, any case. Also read on its own for `enable_envvars_config` before the merge. */
export const bool = z
  .string()
  .toLowerCase()
  .pipe(z.enum(['true', 'false'], 'must be true or false'))
  .transform((value) => value === 'true');

/** TorchServe's address grammar, plus bracketed IPv6 hosts and a trailing slash. */
const ADDRESS = /^(?:(https?):\/\/(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::(\d{1,5}))?\/?|unix:(\/.*))$/i;

/** `missingPort`: TorchServe's port when an http(s) address names none (http, https). */
const address = (missingPort: readonly [number, number]) =>
  z.string().transform((text, ctx): ListenAddress => {
    const match = ADDRESS.exec(text);
    if (!match) {
      ctx.addIssue({ code: 'custom', message: 'must be http://HOST[:PORT], https://HOST[:PORT] or unix:/PATH' });
      return z.NEVER;
    }
    const [, scheme, host, port, path] = match;
    if (path !== undefined) return { protocol: 'unix', path };
    const protocol = scheme!.toLowerCase() === 'https' ? 'https' : 'http';
    const portNumber = port === undefined ? missingPort[protocol === 'https' ? 1 : 0] : Number(port);
    if (portNumber > 65535) {
      ctx.addIssue({ code: 'custom', message: 'port must be 0-65535' });
      return z.NEVER;
    }
    return { protocol, host: host!.replace(/^\[(.*)\]$/, '$1'), port: portNumber };
  });

const allowedUrls = z.string().transform((text, ctx) => {
  const patterns: RegExp[] = [];
  for (const pattern of text.split(',').map((part) => part.trim())) {
    if (pattern === '') continue;
    try {
      // Full match, case-insensitive, as Java's Pattern.matches with CASE_INSENSITIVE.
      patterns.push(new RegExp(`^(?:${pattern})$`, 'i'));
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `bad pattern ${JSON.stringify(pattern)}: ${(error as Error).message}` });
      return z.NEVER;
    }
  }
  return patterns;
});

const loadModels = z.string().transform((text, ctx): LoadModels => {
  if (text.toLowerCase() === 'all') return 'all';
  const entries: StartupModel[] = [];
  for (const entry of text.split(',').map((part) => part.trim())) {
    const equals = entry.indexOf('=');
    const url = (equals < 0 ? entry : entry.slice(equals + 1)).trim();
    if (url === '') continue; // TorchServe skips empty entries
    const name = equals < 0 ? undefined : entry.slice(0, equals).trim();
    if (name === '') {
      ctx.addIssue({ code: 'custom', message: `empty model name in ${JSON.stringify(entry)}` });
      return z.NEVER;
    }
    const problem = name === undefined ? undefined : nameProblem('model name', name);
    if (problem) {
      ctx.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }
    entries.push(name === undefined ? { url } : { name, url });
  }
  return entries;
});

const metricsMode = z
  .string()
  .transform((text) => text.replace(/\s/g, '').toLowerCase())
  .pipe(z.enum(['prometheus', 'log', 'legacy'], 'must be prometheus, log or legacy'));

/**
 * TorchServe's `body` and `json` envelopes hand a handler bare values instead of the per-request
 * record every kiln handler reads: accepting them would silently change what handlers see.
 */
const serviceEnvelope = z
  .string()
  .toLowerCase()
  .pipe(z.enum(['kserve', 'kservev2'], 'must be kserve or kservev2 (kiln does not implement TorchServe\'s body and json envelopes)'));

/** `metrics_text_format` (kiln only): how the metrics page writes TorchServe's families. */
const metricsTextFormat = z
  .string()
  .toLowerCase()
  .pipe(z.enum(['torchserve', 'standard'], 'must be torchserve or standard'));

const count = z.number().int('must be a whole number').nonnegative('must not be negative');
/** A `models=` or snapshot entry: TorchServe's bookkeeping fields and the table's snapshot settings. */
const VersionSettings = z.object({
  defaultVersion: z.boolean().optional(),
  marName: z.string().min(1).optional(),
  ...(Object.fromEntries(SNAPSHOT_SETTINGS.map((name) => [name, boundedInt(name).optional()])) as {
    readonly [K in SnapshotSettingName]: z.ZodOptional<ReturnType<typeof boundedInt>>;
  }),
  runtimeType: z.string().optional(),
});
const minNotAboveMax = (settings: ModelVersionSettings): boolean =>
  settings.minWorkers === undefined || settings.maxWorkers === undefined || settings.minWorkers <= settings.maxWorkers;
const MIN_ABOVE_MAX = { message: 'minWorkers is greater than maxWorkers', path: ['minWorkers'] };

/** JSON null means "absent" in snapshots (Gson writes it for unset timeouts). */
const dropNulls = (value: unknown): unknown =>
  value !== null && typeof value === 'object' && !Array.isArray(value)
    ? Object.fromEntries(Object.entries(value).filter(([, field]) => field !== null))
    : value;

/** Model name → version → settings, with every name and version checked as REST checks them. */
const byNameAndVersion = <T extends z.ZodType>(settings: T) =>
  z.record(z.string(), z.record(z.string(), settings)).superRefine((models, ctx) => {
    for (const [name, versions] of Object.entries(models)) {
      const problem = nameProblem('model name', name) ?? Object.keys(versions).map((version) => nameProblem('model version', version)).find(Boolean);
      if (problem) ctx.addIssue({ code: 'custom', message: problem, path: [name] });
    }
  });

const ModelSettingsSchema = byNameAndVersion(VersionSettings.refine(minNotAboveMax, MIN_ABOVE_MAX));

const SnapshotSchema = z.object({
  name: z.string(),
  modelCount: count,
  models: byNameAndVersion(
    z.preprocess(
      dropNulls,
      VersionSettings.required({
        defaultVersion: true,
        marName: true,
        ...(Object.fromEntries(REQUIRED_SNAPSHOT_SETTINGS.map((name) => [name, true])) as { readonly [K in RequiredSnapshotSettingName]: true }),
      }).refine(minNotAboveMax, MIN_ABOVE_MAX),
    ),
  ),
});

const json = <T extends z.ZodType>(schema: T) =>
  z
    .string()
    .transform((text, ctx): unknown => {
      try {
        return JSON.parse(text);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);

/** The config.properties keys of the settings table, each a whole number within its setting's bound. */
const SETTING_PROPERTY_SCHEMAS = Object.fromEntries([...SETTING_PROPERTIES].map(([key, name]) => [key, boundedWhole(name)])) as {
  readonly [P in SettingProperty]: ReturnType<typeof boundedWhole>;
};

/** Every key kiln reads; any other key is ignored, as TorchServe does. */
export const PropertiesSchema = z.object({
  inference_address: address([80, 443]),
  management_address: address([8081, 8444]),
  metrics_address: address([8082, 8445]),
  grpc_inference_address: z.string().regex(/^(?:\[?[0-9a-f:.]+\]?|[a-z0-9._-]+)$/i, 'must be a host name or IP address').transform((host) => host.replace(/^\[(.*)\]$/, '$1')),
  grpc_inference_port: wholeNumber(0).pipe(z.number().max(65535, 'must be a port number (0-65535)')),
  model_store: z.string(),
  load_models: loadModels,
  // The server-wide defaults of the settings table (default_workers_per_model: 0 means one
  // worker per CPU, capped at the same bound).
  ...SETTING_PROPERTY_SCHEMAS,
  worker_isolation: z.enum(['auto', 'process', 'thread'], { message: 'must be auto, process or thread' }),
  worker_max_memory_mib: wholeNumber(1).pipe(z.number().min(MIN_WORKER_MEMORY_MIB, `must be at least ${MIN_WORKER_MEMORY_MIB} (MiB)`).max(MAX_WORKER_MEMORY_MIB, `must be at most ${MAX_WORKER_MEMORY_MIB} (MiB)`)),
  max_request_size: wholeNumber(1),
  max_response_size: wholeNumber(1),
  allowed_urls: allowedUrls,
  enable_model_api: bool,
  disable_token_authorization: bool,
  token_expiration_min: positiveDecimal,
  decode_input_request: bool,
  cors_allowed_origin: z.string(),
  cors_allowed_methods: z.string(),
  cors_allowed_headers: z.string(),
  metrics_mode: metricsMode,
  service_envelope: serviceEnvelope,
  enable_metrics_api: bool,
  metrics_text_format: metricsTextFormat,
  disable_system_metrics: bool,
  spare_handler_thread: bool,
  private_key_file: z.string(),
  certificate_file: z.string(),
  keystore: z.string(),
  keystore_pass: z.string(),
  keystore_type: z.string().regex(/^pkcs12$/i, 'must be PKCS12 (Node reads no other keystore type)'),
  model_snapshot: json(SnapshotSchema),
  models: json(ModelSettingsSchema),
  enable_envvars_config: bool,
  use_env_allowed_urls: bool,
}).partial();

export type PropertyKey = keyof typeof PropertiesSchema.shape;
