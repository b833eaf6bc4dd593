/**
 * The one definition of the per-model worker, batch, queue and timeout settings: for each, where
 * it may be set (REST parameters, model-config.yaml, config.properties, `models=`, workflow specs),
 * where it is reported (snapshots, describe), its bound, its default and which source wins.
 * REST parsing, model-config.yaml, config.properties, snapshots, describe and workflow specs all
 * derive from {@link SERVING_SETTINGS}, so adding a setting is one entry here. It lives in `core`
 * because `archive` (model-config.yaml, workflow specs), `serving` and `server` all read it and
 * none of them may import another. docs/server.md ("Bounds of worker, batch, queue and timeout
 * settings") shows the same table.
 *
 * TorchServe spells a setting the same way (camelCase) in model-config.yaml, `models=`,
 * `model_snapshot` and describe's JSON, so each entry's key is all four names.
 */

/** An inclusive integer range, with why the upper end is where it is. */
export interface SettingBound {
  readonly min: number;
  readonly max: number;
  readonly unit: '' | 'ms' | 's';
  readonly why: string;
}

/**
 * Which source wins for a version's value (see `resolveSettings` in src/serving/settings.ts):
 * - `rest`: REST > model-config.yaml > `models=` > the server's default (TorchServe's batching rule);
 * - `yaml`: model-config.yaml > REST > `models=` > the server's default (TorchServe's timeouts);
 * - `workers`: initial_workers/min_worker/max_worker, replaced by yaml minWorkers/maxWorkers when
 *   min > 0 and max ≥ min, and by a restored snapshot's counts before anything else;
 * - `server`: not per version at all (config.properties only).
 */
export type SettingPrecedence = 'rest' | 'yaml' | 'workers' | 'server';

/** One setting of {@link SERVING_SETTINGS}. */
export interface SettingSpec {
  readonly bound: SettingBound;
  /** kiln's default, TorchServe's unless docs/server.md says otherwise. */
  readonly default: number;
  readonly precedence: SettingPrecedence;
  /** model-config.yaml may set it (key: the setting's name). */
  readonly yaml: boolean;
  /** describe (`GET /models/{m}`) reports it, in table order. */
  readonly describe: boolean;
  /**
   * Snapshots write it (always) and `models=` / `model_snapshot` may set it: `required` when a
   * snapshot entry must have it, `optional` when older TorchServe snapshots lack it.
   */
  readonly snapshot?: 'required' | 'optional';
  /**
   * REST query parameters that set it. Values are whole numbers within {@link SettingSpec.bound};
   * anything else is a 400 (TorchServe falls back to a default: a deliberate difference, see
   * docs/server.md).
   */
  readonly rest?: {
    /** On `POST /models`; `as` names the registration option when it is not the setting's name. */
    readonly register?: { readonly param: string; readonly as?: 'initialWorkers'; readonly doc: string };
    /** On `PUT /models/{m}`. */
    readonly scale?: { readonly param: string; readonly doc: string };
    /** `POST /workflows` takes it too, for every model of the workflow. */
    readonly workflows?: true;
  };
  /** The config.properties key of the server-wide default (a whole number within the bound). */
  readonly property?: string;
  /** The workflow spec key (`models:` level or per model) and TorchServe's workflow default. */
  readonly workflow?: { readonly key: string; readonly default: number; readonly min?: number };
}

/**
 * Workers per model version. Each worker is one thread (or process) with its own onnxruntime
 * session, a full copy of the weights and its own intra-op thread pool, so workers beyond the core
 * count only cost memory. 64 covers one worker per core on large hosts, while a mistaken config
 * can no longer start hundreds of threads (`minWorkers: 300` once did, 7.6 GB before it finished).
 */
export const MAX_WORKERS = 64;

/** Node's timers take at most 2^31-1 ms; a longer delay fires after 1 ms instead. */
const TIMER_MAX_MS = 2_147_483_647;
const TIMER_MAX_S = Math.floor(TIMER_MAX_MS / 1000);
const TIMER = 'the longest delay a Node timer honours';

const workers: SettingBound = { min: 0, max: MAX_WORKERS, unit: '', why: 'each worker loads its own copy of the model' };

/**
 * Every setting, in TorchServe's describe order. TorchServe has no upper limits; kiln's bounds
 * are chosen so one setting cannot exhaust the host.
 */
export const SERVING_SETTINGS = Object.freeze({
  minWorkers: {
    bound: workers,
    default: 1,
    precedence: 'workers',
    yaml: true,
    describe: true,
    snapshot: 'required',
    rest: { register: { param: 'initial_workers', as: 'initialWorkers', doc: 'Workers to start.' }, scale: { param: 'min_worker', doc: 'Minimum workers.' } },
    // 0 means one worker per CPU (capped at the same bound).
    property: 'default_workers_per_model',
    workflow: { key: 'min-workers', default: 1 },
  },
  maxWorkers: {
    bound: workers,
    default: 1,
    precedence: 'workers',
    yaml: true,
    describe: true,
    snapshot: 'required',
    rest: { scale: { param: 'max_worker', doc: 'Maximum workers.' } },
    workflow: { key: 'max-workers', default: 1, min: 1 },
  },
  batchSize: {
    bound: { min: 1, max: 4096, unit: '', why: 'a batch is stacked into one tensor in memory' },
    default: 1,
    precedence: 'rest',
    yaml: true,
    describe: true,
    snapshot: 'required',
    rest: { register: { param: 'batch_size', doc: 'Requests per batch.' } },
    workflow: { key: 'batch-size', default: 1 },
  },
  maxBatchDelay: {
    bound: {
      min: 0,
      max: 10_000,
      unit: 'ms',
      why: 'a request waits this long for company before it runs; it must stay far below responseTimeout',
    },
    default: 100,
    precedence: 'rest',
    yaml: true,
    describe: true,
    snapshot: 'required',
    rest: { register: { param: 'max_batch_delay', doc: 'Longest wait for a full batch, ms.' } },
    workflow: { key: 'max-batch-delay', default: 50 },
  },
  responseTimeout: {
    bound: { min: 1, max: TIMER_MAX_S, unit: 's', why: TIMER },
    default: 120,
    precedence: 'yaml',
    yaml: true,
    describe: true,
    snapshot: 'optional',
    rest: { register: { param: 'response_timeout', doc: 'Seconds a worker may take per batch.' }, workflows: true },
    property: 'default_response_timeout',
  },
  startupTimeout: {
    bound: { min: 1, max: TIMER_MAX_S, unit: 's', why: TIMER },
    default: 120,
    precedence: 'yaml',
    yaml: true,
    describe: true,
    snapshot: 'optional',
    rest: { register: { param: 'startup_timeout', doc: 'Seconds a worker may take to load.' }, workflows: true },
    property: 'default_startup_timeout',
  },
  maxRetryTimeoutInSec: {
    bound: { min: 0, max: TIMER_MAX_S, unit: 's', why: TIMER },
    default: 300,
    precedence: 'yaml',
    yaml: true,
    describe: true,
  },
  clientTimeoutInMills: {
    bound: { min: 0, max: TIMER_MAX_MS, unit: 'ms', why: TIMER },
    // 0: no limit. Only model-config.yaml sets it, as in TorchServe.
    default: 0,
    precedence: 'yaml',
    yaml: true,
    describe: true,
  },
  jobQueueSize: {
    bound: { min: 1, max: 10_000, unit: '', why: 'each waiting request holds its body in memory' },
    default: 100,
    precedence: 'yaml',
    yaml: true,
    describe: false,
    property: 'job_queue_size',
  },
  unregisterModelTimeout: {
    bound: { min: 0, max: TIMER_MAX_S, unit: 's', why: TIMER },
    default: 120,
    precedence: 'server',
    yaml: false,
    describe: false,
    property: 'unregister_model_timeout',
  },
} as const satisfies Record<string, SettingSpec>);

type Table = typeof SERVING_SETTINGS;

/** Every setting's name. */
export type SettingName = keyof Table;

/** Settings each model version has (all but the server-wide ones). */
export type VersionSettingName = { [K in SettingName]: Table[K]['precedence'] extends 'server' ? never : K }[SettingName];

/** Settings model-config.yaml may set. */
export type YamlSettingName = { [K in SettingName]: Table[K]['yaml'] extends true ? K : never }[SettingName];

/** Settings describe reports. */
export type DescribedSettingName = { [K in SettingName]: Table[K]['describe'] extends true ? K : never }[SettingName];

/** Settings a snapshot writes and `models=` may set, and those a snapshot entry must have. */
export type SnapshotSettingName = { [K in SettingName]: Table[K] extends { snapshot: string } ? K : never }[SettingName];
export type RequiredSnapshotSettingName = { [K in SettingName]: Table[K] extends { snapshot: 'required' } ? K : never }[SettingName];

/** Settings a workflow spec may set. */
export type WorkflowSettingName = { [K in SettingName]: Table[K] extends { workflow: object } ? K : never }[SettingName];

/** config.properties keys of the server-wide defaults. */
export type SettingProperty = { [K in SettingName]: Table[K] extends { property: infer P extends string } ? P : never }[SettingName];

/** A setting's entry, typed loosely (for code that walks the table). */
export function settingSpec(name: SettingName): SettingSpec {
  return SERVING_SETTINGS[name];
}

/** Names of the settings whose entry passes `test`, in table order. */
export function settingsWhere<N extends SettingName = SettingName>(test: (spec: SettingSpec, name: SettingName) => boolean): N[] {
  return (Object.keys(SERVING_SETTINGS) as SettingName[]).filter((name) => test(SERVING_SETTINGS[name], name)) as N[];
}

/** The settings of each place, in table order (the order describe and snapshots write them). */
export const VERSION_SETTINGS: readonly VersionSettingName[] = settingsWhere((spec) => spec.precedence !== 'server');
export const YAML_SETTINGS: readonly YamlSettingName[] = settingsWhere((spec) => spec.yaml);
export const DESCRIBED_SETTINGS: readonly DescribedSettingName[] = settingsWhere((spec) => spec.describe);
export const SNAPSHOT_SETTINGS: readonly SnapshotSettingName[] = settingsWhere((spec) => spec.snapshot !== undefined);
export const REQUIRED_SNAPSHOT_SETTINGS: readonly RequiredSnapshotSettingName[] = settingsWhere((spec) => spec.snapshot === 'required');

/** config.properties key → the setting it sets. */
export const SETTING_PROPERTIES: ReadonlyMap<SettingProperty, SettingName> = new Map(
  settingsWhere((spec) => spec.property !== undefined).map((name) => [settingSpec(name).property as SettingProperty, name]),
);

/** One REST parameter of a setting, and what it sets. */
export interface SettingParam {
  readonly param: string;
  readonly setting: SettingName;
  /** The registration option it fills (`initialWorkers` for initial_workers, else the setting). */
  readonly option: string;
  readonly doc: string;
}

/** `POST /models` parameters, in table order. */
export const REGISTER_PARAMS: readonly SettingParam[] = settingsWhere((spec) => spec.rest?.register !== undefined).map((setting) => {
  const { param, as, doc } = settingSpec(setting).rest!.register!;
  return { param, setting, option: as ?? setting, doc };
});

/** `POST /workflows` parameters (a subset of the registration ones). */
export const WORKFLOW_REGISTER_PARAMS: readonly SettingParam[] = REGISTER_PARAMS.filter(({ setting }) => settingSpec(setting).rest?.workflows === true);

/** `PUT /models/{m}` parameters. */
export const SCALE_PARAMS: readonly SettingParam[] = settingsWhere((spec) => spec.rest?.scale !== undefined).map((setting) => {
  const { param, doc } = settingSpec(setting).rest!.scale!;
  return { param, setting, option: setting, doc };
});

/** Every REST parameter of a setting → the setting whose bound it obeys. */
export const SETTING_PARAMS: ReadonlyMap<string, SettingName> = new Map([...REGISTER_PARAMS, ...SCALE_PARAMS].map(({ param, setting }) => [param, setting]));

/** Settings a workflow spec takes: spec key → setting. */
export const WORKFLOW_SETTINGS: ReadonlyMap<string, WorkflowSettingName> = new Map(
  settingsWhere<WorkflowSettingName>((spec) => spec.workflow !== undefined).map((name) => [settingSpec(name).workflow!.key, name]),
);
