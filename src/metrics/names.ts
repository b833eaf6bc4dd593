/**
 * Every metric family name and label name kiln exports, each written once (style rule 17).
 * TorchServe's names are wire names: dashboards and alerts written for TorchServe 0.12 query them
 * verbatim, so their spelling (and TorchServe's mix of snake_case and PascalCase) is kept as is.
 */

/**
 * TorchServe frontend and backend families (ts/configs/metrics.yaml of TorchServe 0.12).
 * @example registry.render([TS_METRIC.inferenceRequestsTotal])
 */
export const TS_METRIC = Object.freeze({
  /** Counter: inference requests answered. Labels {@link TS_LATENCY_LABELS}. */
  inferenceRequestsTotal: 'ts_inference_requests_total',
  /** Counter holding a sum: arrival-to-response time in microseconds. Labels {@link TS_LATENCY_LABELS}. */
  inferenceLatencyMicroseconds: 'ts_inference_latency_microseconds',
  /** Counter holding a sum: time queued before a worker took the job, µs. Labels {@link TS_LATENCY_LABELS}. */
  queueLatencyMicroseconds: 'ts_queue_latency_microseconds',
  /** Counter: responses with a 2xx status, on any port. Labels {@link HOST_LABELS}. */
  requests2xx: 'Requests2XX',
  /** Counter: responses with a 4xx status. Labels {@link HOST_LABELS}. */
  requests4xx: 'Requests4XX',
  /** Counter: every other response (5xx, but also 1xx and 3xx, as TorchServe counts them). */
  requests5xx: 'Requests5XX',
  /** Gauge: queue time of the last answered request, ms. Labels {@link HOST_LABELS}. */
  queueTime: 'QueueTime',
  /** Gauge: worker time outside the handler for the last batch, ms. Labels {@link HOST_LABELS}. */
  workerThreadTime: 'WorkerThreadTime',
  /** Gauge: time the last load of a worker took, ms. Labels {@link WORKER_LOAD_LABELS}. */
  workerLoadTime: 'WorkerLoadTime',
  /** Gauge (backend): whole handler time of the last batch, ms. Labels {@link MODEL_LEVEL_LABELS}. */
  handlerTime: 'HandlerTime',
  /** Gauge (backend): the inference step of the last batch, ms. Labels {@link MODEL_LEVEL_LABELS}. */
  predictionTime: 'PredictionTime',
} as const);

/**
 * TorchServe's system families (ts/configs/metrics.yaml), Level="Host". TorchServe measures them
 * with psutil; kiln reads the same figures from the OS (see system.ts). The GPU ones exist only
 * where a GPU is present.
 */
export const SYSTEM_METRIC = Object.freeze({
  /** Gauge: CPU busy time since the previous sample, percent of all cores. */
  cpuUtilization: 'CPUUtilization',
  /** Gauge: memory in use, megabytes (psutil's `used`). */
  memoryUsed: 'MemoryUsed',
  /** Gauge: memory available to new processes without swapping, megabytes. */
  memoryAvailable: 'MemoryAvailable',
  /** Gauge: memory not available, percent of the total. */
  memoryUtilization: 'MemoryUtilization',
  /** Gauge: bytes used on the root file system, gigabytes. */
  diskUsage: 'DiskUsage',
  /** Gauge: the root file system's used share, percent (of what an unprivileged user can reach). */
  diskUtilization: 'DiskUtilization',
  /** Gauge: bytes an unprivileged user can still write on the root file system, gigabytes. */
  diskAvailable: 'DiskAvailable',
  /** Gauge per GPU: memory in use, percent. Labels {@link GPU_LABELS}. */
  gpuMemoryUtilization: 'GPUMemoryUtilization',
  /** Gauge per GPU: memory in use, megabytes. */
  gpuMemoryUsed: 'GPUMemoryUsed',
  /** Gauge per GPU: busy time, percent. */
  gpuUtilization: 'GPUUtilization',
} as const);

/** kiln's own families, without their prefix (see {@link KILN_METRIC_PREFIX}). */
export const KILN_METRIC_STEM = Object.freeze({
  /** Histogram: seconds from arrival until a worker took the request. */
  queueLatencySeconds: 'queue_latency_seconds',
  /** Histogram: seconds the handler spent on the batch that held the request. */
  inferenceLatencySeconds: 'inference_latency_seconds',
  /** Histogram: seconds from arrival to response (end to end). */
  requestLatencySeconds: 'request_latency_seconds',
  /** Histogram: number of requests in each dispatched batch. */
  batchSize: 'batch_size',
  /** Gauge: workers of a version, by state. */
  modelWorkers: 'model_workers',
  /** Gauge: requests waiting in a version's queue. */
  queueDepth: 'queue_depth',
} as const);

/** The prefix of kiln's own families unless `prefix` is given. @defaultValue 'kiln_' */
export const KILN_METRIC_PREFIX = 'kiln_';

type KilnMetricNames = {
  readonly [K in keyof typeof KILN_METRIC_STEM]: `${typeof KILN_METRIC_PREFIX}${(typeof KILN_METRIC_STEM)[K]}`;
};

/**
 * kiln's own family names with the default prefix, e.g. `kiln_queue_latency_seconds`.
 * @example KILN_METRIC.batchSize === 'kiln_batch_size'
 */
export const KILN_METRIC: KilnMetricNames = Object.freeze(
  Object.fromEntries(
    Object.entries(KILN_METRIC_STEM).map(([key, stem]) => [key, `${KILN_METRIC_PREFIX}${stem}`]),
  ) as KilnMetricNames,
);

/** Label names. TorchServe's frontend uses both spellings of model and host, so both are here. */
export const LABEL = Object.freeze({
  modelName: 'model_name',
  modelVersion: 'model_version',
  hostname: 'hostname',
  level: 'Level',
  host: 'Hostname',
  tsModelName: 'ModelName',
  workerName: 'WorkerName',
  deviceId: 'DeviceId',
  state: 'state',
} as const);

/** Values of the `Level` label. */
export const LEVEL = Object.freeze({ host: 'Host', model: 'Model' } as const);

/** `model_version` of TorchServe's ts_* series when the request URL named no version. */
export const DEFAULT_VERSION_LABEL = 'default';

/** Values of `kiln_model_workers`'s `state` label. */
export const WORKER_STATES = Object.freeze(['ready', 'starting'] as const);

/** Labels of `ts_inference_requests_total` and the two ts_*_microseconds sums, in TorchServe's order. */
export const TS_LATENCY_LABELS = Object.freeze([LABEL.modelName, LABEL.modelVersion, LABEL.hostname] as const);
/** Labels of Requests2XX/4XX/5XX, QueueTime and WorkerThreadTime (`Level` is always `Host`). */
export const HOST_LABELS = Object.freeze([LABEL.level, LABEL.host] as const);
/** Labels of WorkerLoadTime (`Level` is always `Host`). */
export const WORKER_LOAD_LABELS = Object.freeze([LABEL.workerName, LABEL.level, LABEL.host] as const);
/** Labels of the backend HandlerTime and PredictionTime (`Level` is always `Model`). */
export const MODEL_LEVEL_LABELS = Object.freeze([LABEL.tsModelName, LABEL.level, LABEL.host] as const);
/** Labels of the host-wide system families (CPU, memory, disk). */
export const SYSTEM_LABELS = HOST_LABELS;
/** Labels of the GPU families, in TorchServe's order. */
export const GPU_LABELS = Object.freeze([LABEL.level, LABEL.deviceId, LABEL.host] as const);
/** Labels of kiln's latency histograms and of `kiln_queue_depth` and `kiln_batch_size`. */
export const VERSION_LABELS = Object.freeze([LABEL.modelName, LABEL.modelVersion] as const);
/** Labels of `kiln_model_workers`. */
export const WORKER_STATE_LABELS = Object.freeze([LABEL.modelName, LABEL.modelVersion, LABEL.state] as const);

/** Families written TorchServe's way, with their labels in TorchServe's order. */
export const TORCHSERVE_LABEL_ORDER: ReadonlyMap<string, readonly string[]> = new Map<string, readonly string[]>([
  ...[TS_METRIC.inferenceRequestsTotal, TS_METRIC.inferenceLatencyMicroseconds, TS_METRIC.queueLatencyMicroseconds].map(
    (name) => [name, TS_LATENCY_LABELS] as const,
  ),
  ...[TS_METRIC.requests2xx, TS_METRIC.requests4xx, TS_METRIC.requests5xx, TS_METRIC.queueTime, TS_METRIC.workerThreadTime].map(
    (name) => [name, HOST_LABELS] as const,
  ),
  [TS_METRIC.workerLoadTime, WORKER_LOAD_LABELS],
  [TS_METRIC.handlerTime, MODEL_LEVEL_LABELS],
  [TS_METRIC.predictionTime, MODEL_LEVEL_LABELS],
  ...[SYSTEM_METRIC.gpuMemoryUtilization, SYSTEM_METRIC.gpuMemoryUsed, SYSTEM_METRIC.gpuUtilization].map((name) => [name, GPU_LABELS] as const),
  ...Object.values(SYSTEM_METRIC)
    .filter((name) => !name.startsWith('GPU'))
    .map((name) => [name, SYSTEM_LABELS] as const),
]);
/** Families left out until they hold a sample: a host without a GPU shows no GPU family at all. */
export const SYSTEM_FAMILIES: ReadonlySet<string> = new Set(Object.values(SYSTEM_METRIC));
