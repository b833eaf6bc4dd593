import { hostname as osHostname } from 'node:os';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { KilnError } from '../core/errors.js';
import {
  DEFAULT_VERSION_LABEL,
  GPU_LABELS,
  HOST_LABELS,
  KILN_METRIC_PREFIX,
  KILN_METRIC_STEM,
  LABEL,
  LEVEL,
  MODEL_LEVEL_LABELS,
  SYSTEM_FAMILIES,
  SYSTEM_LABELS,
  SYSTEM_METRIC,
  TORCHSERVE_LABEL_ORDER,
  TS_LATENCY_LABELS,
  TS_METRIC,
  VERSION_LABELS,
  WORKER_LOAD_LABELS,
  WORKER_STATE_LABELS,
} from './names.js';
import type { SystemSample } from './system.js';
import { renderTorchServeFamily, type FamilySamples, type MetricsTextFormat } from './torchserve-text.js';

/**
 * What `GET /metrics` serves. `prometheus`: every family (system ones once recorded). `legacy`: only TorchServe's three ts_*
 * families. `log`: an empty body; TorchServe's default, where its metrics go to ts_metrics.log
 * instead (kiln writes no metrics log; its request log covers the same ground).
 */
export type MetricsMode = 'prometheus' | 'legacy' | 'log';

/** The modes {@link MetricsMode} allows, for parsers of `metrics_mode`. */
export const METRICS_MODES: readonly MetricsMode[] = Object.freeze(['prometheus', 'legacy', 'log']);

/** Content type of the Prometheus text format 0.0.4, as TorchServe sends it. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Options of {@link createServerMetrics}. */
export interface ServerMetricsOptions {
  /** Value of the `hostname`/`Hostname` labels. @defaultValue `os.hostname()` */
  readonly hostname?: string;
  /** Prefix of kiln's own families (`[a-zA-Z_:][a-zA-Z0-9_:]*` or empty). @defaultValue 'kiln_' */
  readonly prefix?: string;
  /** What {@link ServerMetrics.render} returns. @defaultValue 'prometheus' (TorchServe's is 'log') */
  readonly metricsMode?: MetricsMode;
}

/** The resolved, frozen form of {@link ServerMetricsOptions}. */
export interface ServerMetricsConfig {
  readonly hostname: string;
  readonly prefix: string;
  readonly metricsMode: MetricsMode;
}

/** Defaults of {@link ServerMetricsOptions} and the histogram buckets. */
export const SERVER_METRICS_DEFAULTS = Object.freeze({
  prefix: KILN_METRIC_PREFIX,
  metricsMode: 'prometheus' as MetricsMode,
  /** 1 ms to 30 s, about three buckets a decade. */
  latencyBucketsSeconds: Object.freeze([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]),
  batchSizeBuckets: Object.freeze([1, 2, 4, 8, 16, 32, 64, 128, 256]),
});

/** One answered inference request. Durations are milliseconds. */
export interface InferenceSample {
  readonly model: string;
  /** The version that served it (resolved, also when the URL named none). */
  readonly version: string;
  /** False when the URL named no version: TorchServe's ts_* series then say `model_version="default"`. */
  readonly versionInUrl: boolean;
  /** Arrival until a worker took the request. */
  readonly queueMs: number;
  /** Handler time of the batch that held the request. */
  readonly inferenceMs: number;
  /** Arrival to response, end to end. */
  readonly totalMs: number;
}

/** One batch a worker finished. */
export interface BatchSample {
  readonly model: string;
  readonly version: string;
  /** Requests in the batch. */
  readonly size: number;
  /** Worker time outside the handler (gathering, encoding), ms; sets WorkerThreadTime when given. */
  readonly workerThreadMs?: number;
}

/** Backend times of one batch, ms (TorchServe's HandlerTime and PredictionTime). */
export interface HandlerSample {
  readonly model: string;
  /** The handler's own time for a batch: preprocess, inference and postprocess. */
  readonly handlerMs: number;
  /** The backend's whole predict call for a batch (the handler plus the hop to its worker). */
  readonly predictionMs: number;
}

/** How {@link ServerMetrics.render} writes. */
export interface RenderOptions {
  /**
   * `torchserve`: TorchServe's families (ts_*, Requests*, system, backend) in TorchServe's exact
   * text (trailing comma after each label, Java doubles, no blank lines); kiln's own families
   * stay in prom-client's form. `standard`: prom-client's form throughout.
   * @defaultValue 'torchserve'
   */
  readonly format?: MetricsTextFormat;
}

/** A rendered metrics page. */
export interface MetricsPage {
  readonly contentType: string;
  readonly body: string;
}

/**
 * The server's metrics, behind typed methods. Recording never throws: a negative or non-finite
 * duration or count is recorded as 0, because a metrics call must not fail a request.
 */
export interface ServerMetrics {
  readonly config: ServerMetricsConfig;
  /** Counts one HTTP response, on any port, into Requests2XX, Requests4XX or Requests5XX. */
  recordRequest(status: number): void;
  /** Counts one answered inference request and adds its times to the sums and histograms. */
  recordInference(sample: InferenceSample): void;
  /** Records one dispatched batch: its size, and WorkerThreadTime when given. */
  recordBatch(sample: BatchSample): void;
  /** Sets the backend gauges HandlerTime and PredictionTime. */
  recordHandler(sample: HandlerSample): void;
  /** Sets WorkerLoadTime for a worker. @defaultValue worker `W-<model>_<version>` */
  recordWorkerLoad(model: string, version: string, ms: number, worker?: string): void;
  /** Sets `kiln_model_workers` for both states. */
  setWorkers(model: string, version: string, ready: number, starting: number): void;
  /**
   * Sets the system families (CPUUtilization, Memory*, Disk*, and GPU* per device; a GPU not in
   * the sample loses its series). They appear only once recorded.
   */
  recordSystem(sample: SystemSample): void;
  /** Sets `kiln_queue_depth`. */
  setQueueDepth(model: string, version: string, depth: number): void;
  /**
   * Drops every series of one version. Series keyed by model alone (`model_version="default"`,
   * HandlerTime, PredictionTime) go once no other version of the model has series.
   */
  removeModel(model: string, version: string): void;
  /**
   * Prometheus text of every family, or of the named ones (`?name[]=` filter; an empty list
   * means all, as in TorchServe; unknown names add nothing). Families appear in a fixed order.
   * @example const { contentType, body } = await metrics.render(['ts_queue_latency_microseconds']);
   */
  render(names?: readonly string[], options?: RenderOptions): Promise<MetricsPage>;
}

type LabelsOf<T extends readonly string[]> = T[number];
type TsLatency = LabelsOf<typeof TS_LATENCY_LABELS>;
type HostLevel = LabelsOf<typeof HOST_LABELS>;
type ModelLevel = LabelsOf<typeof MODEL_LEVEL_LABELS>;
type WorkerLoad = LabelsOf<typeof WORKER_LOAD_LABELS>;
type VersionLevel = LabelsOf<typeof VERSION_LABELS>;
type WorkerState = LabelsOf<typeof WORKER_STATE_LABELS>;
type Gpu = LabelsOf<typeof GPU_LABELS>;

const LEGACY_FAMILIES: ReadonlySet<string> = new Set([
  TS_METRIC.inferenceRequestsTotal,
  TS_METRIC.inferenceLatencyMicroseconds,
  TS_METRIC.queueLatencyMicroseconds,
]);
const PREFIX_PATTERN = /^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/;

/**
 * Builds the server's metrics around a registry of their own (never prom-client's global one),
 * so that two servers in one process, or two tests, never share a series.
 * @example
 * const metrics = createServerMetrics({ hostname: 'node-1' });
 * metrics.recordInference({ model: 'noop', version: '1.0', versionInUrl: false, queueMs: 2, inferenceMs: 5, totalMs: 8 });
 */
export function createServerMetrics(options: ServerMetricsOptions = {}): ServerMetrics {
  return new PromServerMetrics(resolveConfig(options));
}

function resolveConfig(options: ServerMetricsOptions): ServerMetricsConfig {
  const prefix = options.prefix ?? SERVER_METRICS_DEFAULTS.prefix;
  const metricsMode = options.metricsMode ?? SERVER_METRICS_DEFAULTS.metricsMode;
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new KilnError('KILN_CORE_INVALID_ARGUMENT', `metrics prefix "${prefix}" is not a Prometheus name prefix`);
  }
  if (!METRICS_MODES.includes(metricsMode)) {
    throw new KilnError('KILN_CORE_INVALID_ARGUMENT', `metrics mode "${String(metricsMode)}" is not one of ${METRICS_MODES.join(', ')}`);
  }
  return Object.freeze({ hostname: options.hostname ?? osHostname(), prefix, metricsMode });
}

/** A duration or count as prom-client may take it: never negative, never NaN. */
function amount(value: number): number {
  return Number.isFinite(value) && value > 0 ? value : 0;
}

/**
 * prom-client writes whole numbers as `1`; TorchServe's Java client writes `1.0`. Both parse the
 * same, but clients written against TorchServe grep for `} 1.0`, so sample values are written its way.
 */
function javaStyleValues(text: string): string {
  return text.replace(/^([^#\n].* )(-?\d+)$/gm, '$1$2.0');
}

class PromServerMetrics implements ServerMetrics {
  readonly config: ServerMetricsConfig;
  readonly #registry = new Registry();
  readonly #host: { readonly Level: string; readonly Hostname: string };
  /** Versions per model that have series, so that model-wide series go with the last one. */
  readonly #versions = new Map<string, Set<string>>();
  /** WorkerLoadTime worker names per `model\0version`, so that removeModel finds them. */
  readonly #workers = new Map<string, Set<string>>();

  readonly #requestsTotal: Counter<TsLatency>;
  readonly #inferenceMicros: Counter<TsLatency>;
  readonly #queueMicros: Counter<TsLatency>;
  readonly #requests2xx: Counter<HostLevel>;
  readonly #requests4xx: Counter<HostLevel>;
  readonly #requests5xx: Counter<HostLevel>;
  readonly #queueTime: Gauge<HostLevel>;
  readonly #workerThreadTime: Gauge<HostLevel>;
  readonly #workerLoadTime: Gauge<WorkerLoad>;
  readonly #handlerTime: Gauge<ModelLevel>;
  readonly #predictionTime: Gauge<ModelLevel>;
  readonly #queueSeconds: Histogram<VersionLevel>;
  readonly #inferenceSeconds: Histogram<VersionLevel>;
  readonly #requestSeconds: Histogram<VersionLevel>;
  readonly #batchSize: Histogram<VersionLevel>;
  readonly #modelWorkers: Gauge<WorkerState>;
  readonly #queueDepth: Gauge<VersionLevel>;
  readonly #system: Readonly<Record<Exclude<keyof typeof SYSTEM_METRIC, `gpu${string}`>, Gauge<HostLevel>>>;
  readonly #gpu: Readonly<Record<Extract<keyof typeof SYSTEM_METRIC, `gpu${string}`>, Gauge<Gpu>>>;

  constructor(config: ServerMetricsConfig) {
    this.config = config;
    this.#host = Object.freeze({ [LABEL.level]: LEVEL.host, [LABEL.host]: config.hostname });
    const registers = [this.#registry];
    // TorchServe's help texts, so that its families read the same on both servers.
    const tsCounter = <L extends string>(name: string, unit: string, labelNames: readonly L[]): Counter<L> =>
      new Counter({ name, help: `Torchserve prometheus counter metric with unit: ${unit}`, labelNames, registers });
    const tsGauge = <L extends string>(name: string, unit: string, labelNames: readonly L[]): Gauge<L> =>
      new Gauge({ name, help: `Torchserve prometheus gauge metric with unit: ${unit}`, labelNames, registers });
    const kiln = (stem: string): string => `${config.prefix}${stem}`;
    const seconds = (stem: string, help: string): Histogram<VersionLevel> =>
      new Histogram({
        name: kiln(stem),
        help,
        labelNames: VERSION_LABELS,
        buckets: [...SERVER_METRICS_DEFAULTS.latencyBucketsSeconds],
        registers,
      });

    this.#requestsTotal = tsCounter(TS_METRIC.inferenceRequestsTotal, 'Count', TS_LATENCY_LABELS);
    this.#inferenceMicros = tsCounter(TS_METRIC.inferenceLatencyMicroseconds, 'Microseconds', TS_LATENCY_LABELS);
    this.#queueMicros = tsCounter(TS_METRIC.queueLatencyMicroseconds, 'Microseconds', TS_LATENCY_LABELS);
    this.#requests2xx = tsCounter(TS_METRIC.requests2xx, 'Count', HOST_LABELS);
    this.#requests4xx = tsCounter(TS_METRIC.requests4xx, 'Count', HOST_LABELS);
    this.#requests5xx = tsCounter(TS_METRIC.requests5xx, 'Count', HOST_LABELS);
    this.#queueTime = tsGauge(TS_METRIC.queueTime, 'Milliseconds', HOST_LABELS);
    this.#workerThreadTime = tsGauge(TS_METRIC.workerThreadTime, 'Milliseconds', HOST_LABELS);
    this.#workerLoadTime = tsGauge(TS_METRIC.workerLoadTime, 'Milliseconds', WORKER_LOAD_LABELS);
    this.#handlerTime = tsGauge(TS_METRIC.handlerTime, 'ms', MODEL_LEVEL_LABELS);
    this.#predictionTime = tsGauge(TS_METRIC.predictionTime, 'ms', MODEL_LEVEL_LABELS);
    this.#system = {
      cpuUtilization: tsGauge(SYSTEM_METRIC.cpuUtilization, 'Percent', SYSTEM_LABELS),
      memoryUsed: tsGauge(SYSTEM_METRIC.memoryUsed, 'Megabytes', SYSTEM_LABELS),
      memoryAvailable: tsGauge(SYSTEM_METRIC.memoryAvailable, 'Megabytes', SYSTEM_LABELS),
      memoryUtilization: tsGauge(SYSTEM_METRIC.memoryUtilization, 'Percent', SYSTEM_LABELS),
      diskUsage: tsGauge(SYSTEM_METRIC.diskUsage, 'Gigabytes', SYSTEM_LABELS),
      diskUtilization: tsGauge(SYSTEM_METRIC.diskUtilization, 'Percent', SYSTEM_LABELS),
      diskAvailable: tsGauge(SYSTEM_METRIC.diskAvailable, 'Gigabytes', SYSTEM_LABELS),
    };
    this.#gpu = {
      gpuMemoryUtilization: tsGauge(SYSTEM_METRIC.gpuMemoryUtilization, 'Percent', GPU_LABELS),
      gpuMemoryUsed: tsGauge(SYSTEM_METRIC.gpuMemoryUsed, 'Megabytes', GPU_LABELS),
      gpuUtilization: tsGauge(SYSTEM_METRIC.gpuUtilization, 'Percent', GPU_LABELS),
    };
    this.#queueSeconds = seconds(KILN_METRIC_STEM.queueLatencySeconds, 'Seconds from arrival until a worker took the request.');
    this.#inferenceSeconds = seconds(KILN_METRIC_STEM.inferenceLatencySeconds, 'Seconds the handler spent on the batch holding the request.');
    this.#requestSeconds = seconds(KILN_METRIC_STEM.requestLatencySeconds, 'Seconds from arrival to response, end to end.');
    this.#batchSize = new Histogram({
      name: kiln(KILN_METRIC_STEM.batchSize),
      help: 'Requests in each dispatched batch.',
      labelNames: VERSION_LABELS,
      buckets: [...SERVER_METRICS_DEFAULTS.batchSizeBuckets],
      registers,
    });
    this.#modelWorkers = new Gauge({
      name: kiln(KILN_METRIC_STEM.modelWorkers),
      help: 'Workers of a model version, by state (ready or starting).',
      labelNames: WORKER_STATE_LABELS,
      registers,
    });
    this.#queueDepth = new Gauge({
      name: kiln(KILN_METRIC_STEM.queueDepth),
      help: 'Requests waiting in a model version queue.',
      labelNames: VERSION_LABELS,
      registers,
    });
  }

  recordRequest(status: number): void {
    const counter =
      status >= 200 && status < 300 ? this.#requests2xx : status >= 400 && status < 500 ? this.#requests4xx : this.#requests5xx;
    counter.inc(this.#host);
  }

  recordInference(sample: InferenceSample): void {
    const { model, version } = sample;
    this.#track(model, version);
    const ts = {
      [LABEL.modelName]: model,
      [LABEL.modelVersion]: sample.versionInUrl ? version : DEFAULT_VERSION_LABEL,
      [LABEL.hostname]: this.config.hostname,
    };
    const queueMs = amount(sample.queueMs);
    const totalMs = amount(sample.totalMs);
    this.#requestsTotal.inc(ts);
    // TorchServe's "inference latency" is arrival to response (RestJob: now - begin), queue included.
    this.#inferenceMicros.inc(ts, totalMs * 1000);
    this.#queueMicros.inc(ts, queueMs * 1000);
    this.#queueTime.set(this.#host, queueMs);
    const labels = this.#versionLabels(model, version);
    this.#queueSeconds.observe(labels, queueMs / 1000);
    this.#inferenceSeconds.observe(labels, amount(sample.inferenceMs) / 1000);
    this.#requestSeconds.observe(labels, totalMs / 1000);
  }

  recordBatch(sample: BatchSample): void {
    this.#track(sample.model, sample.version);
    this.#batchSize.observe(this.#versionLabels(sample.model, sample.version), amount(sample.size));
    if (sample.workerThreadMs !== undefined) this.#workerThreadTime.set(this.#host, amount(sample.workerThreadMs));
  }

  recordHandler(sample: HandlerSample): void {
    const labels = this.#modelLevelLabels(sample.model);
    this.#handlerTime.set(labels, amount(sample.handlerMs));
    this.#predictionTime.set(labels, amount(sample.predictionMs));
  }

  recordWorkerLoad(model: string, version: string, ms: number, worker = `W-${model}_${version}`): void {
    this.#track(model, version);
    const key = `${model}\0${version}`;
    const names = this.#workers.get(key) ?? new Set<string>();
    names.add(worker);
    this.#workers.set(key, names);
    this.#workerLoadTime.set({ [LABEL.workerName]: worker, ...this.#host }, amount(ms));
  }

  setWorkers(model: string, version: string, ready: number, starting: number): void {
    this.#track(model, version);
    const labels = this.#versionLabels(model, version);
    this.#modelWorkers.set({ ...labels, [LABEL.state]: 'ready' }, amount(ready));
    this.#modelWorkers.set({ ...labels, [LABEL.state]: 'starting' }, amount(starting));
  }

  recordSystem(sample: SystemSample): void {
    const host = this.#host;
    this.#system.cpuUtilization.set(host, amount(sample.cpuUtilizationPercent));
    this.#system.memoryUsed.set(host, amount(sample.memoryUsedMb));
    this.#system.memoryAvailable.set(host, amount(sample.memoryAvailableMb));
    this.#system.memoryUtilization.set(host, amount(sample.memoryUtilizationPercent));
    this.#system.diskUsage.set(host, amount(sample.diskUsageGb));
    this.#system.diskUtilization.set(host, amount(sample.diskUtilizationPercent));
    this.#system.diskAvailable.set(host, amount(sample.diskAvailableGb));
    for (const gauge of Object.values(this.#gpu)) gauge.reset();
    for (const gpu of sample.gpus) {
      const labels = { [LABEL.level]: LEVEL.host, [LABEL.deviceId]: gpu.deviceId, [LABEL.host]: this.config.hostname };
      if (gpu.memoryUtilizationPercent !== undefined) this.#gpu.gpuMemoryUtilization.set(labels, amount(gpu.memoryUtilizationPercent));
      if (gpu.memoryUsedMb !== undefined) this.#gpu.gpuMemoryUsed.set(labels, amount(gpu.memoryUsedMb));
      if (gpu.utilizationPercent !== undefined) this.#gpu.gpuUtilization.set(labels, amount(gpu.utilizationPercent));
    }
  }

  setQueueDepth(model: string, version: string, depth: number): void {
    this.#track(model, version);
    this.#queueDepth.set(this.#versionLabels(model, version), amount(depth));
  }

  removeModel(model: string, version: string): void {
    const labels = this.#versionLabels(model, version);
    for (const histogram of [this.#queueSeconds, this.#inferenceSeconds, this.#requestSeconds, this.#batchSize]) {
      histogram.remove(labels);
    }
    this.#queueDepth.remove(labels);
    this.#modelWorkers.remove({ ...labels, [LABEL.state]: 'ready' });
    this.#modelWorkers.remove({ ...labels, [LABEL.state]: 'starting' });
    this.#removeTsSeries(model, version);
    const key = `${model}\0${version}`;
    for (const worker of this.#workers.get(key) ?? []) {
      this.#workerLoadTime.remove({ [LABEL.workerName]: worker, ...this.#host });
    }
    this.#workers.delete(key);

    const versions = this.#versions.get(model);
    versions?.delete(version);
    if (versions === undefined || versions.size === 0) {
      this.#versions.delete(model);
      this.#removeTsSeries(model, DEFAULT_VERSION_LABEL);
      this.#handlerTime.remove(this.#modelLevelLabels(model));
      this.#predictionTime.remove(this.#modelLevelLabels(model));
    }
  }

  async render(names?: readonly string[], options: RenderOptions = {}): Promise<MetricsPage> {
    const { metricsMode } = this.config;
    if (metricsMode === 'log') return { contentType: PROMETHEUS_CONTENT_TYPE, body: '' };
    const wanted = names !== undefined && names.length > 0 ? new Set(names) : undefined;
    const selected = this.#registry
      .getMetricsAsArray()
      .map(({ name }) => name)
      .filter((name) => (wanted === undefined || wanted.has(name)) && (metricsMode !== 'legacy' || LEGACY_FAMILIES.has(name)));
    const families: FamilySamples[] = await Promise.all(
      selected.map(async (name) => {
        const family = await this.#registry.getSingleMetric(name)!.get();
        return { ...family, type: String(family.type) };
      }),
    );
    const shown = families.filter((family) => !SYSTEM_FAMILIES.has(family.name) || family.values.length > 0);
    if (shown.length === 0) return { contentType: PROMETHEUS_CONTENT_TYPE, body: '' };
    if ((options.format ?? 'torchserve') === 'standard') {
      const texts = await Promise.all(shown.map(({ name }) => this.#registry.getSingleMetricAsString(name)));
      return { contentType: PROMETHEUS_CONTENT_TYPE, body: `${javaStyleValues(texts.join('\n\n'))}\n` };
    }
    const texts = await Promise.all(
      shown.map(async (family) => {
        const order = TORCHSERVE_LABEL_ORDER.get(family.name);
        if (order !== undefined) return renderTorchServeFamily(family, order);
        return `${javaStyleValues(await this.#registry.getSingleMetricAsString(family.name))}\n`;
      }),
    );
    return { contentType: PROMETHEUS_CONTENT_TYPE, body: texts.join('') };
  }

  #track(model: string, version: string): void {
    const versions = this.#versions.get(model) ?? new Set<string>();
    versions.add(version);
    this.#versions.set(model, versions);
  }

  #versionLabels(model: string, version: string): Record<VersionLevel, string> {
    return { [LABEL.modelName]: model, [LABEL.modelVersion]: version };
  }

  #modelLevelLabels(model: string): Record<ModelLevel, string> {
    return { [LABEL.tsModelName]: model, [LABEL.level]: LEVEL.model, [LABEL.host]: this.config.hostname };
  }

  #removeTsSeries(model: string, versionLabel: string): void {
    const ts = { [LABEL.modelName]: model, [LABEL.modelVersion]: versionLabel, [LABEL.hostname]: this.config.hostname };
    this.#requestsTotal.remove(ts);
    this.#inferenceMicros.remove(ts);
    this.#queueMicros.remove(ts);
  }
}
