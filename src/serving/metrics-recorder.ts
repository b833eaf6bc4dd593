/**
 * The one place the server's request metrics are recorded. Every entry point (the TorchServe
 * inference routes, the Open Inference Protocol over REST and gRPC, workflow nodes) hands its
 * request to the registry with a `RequestOrigin`, and the registry reports the answered request
 * here once (`served`), next to its batches and workers; the HTTP listeners report each
 * response's status here too (`response`). So no route records anything itself, and counts
 * cannot drift between entry points.
 */
import type { ServerMetrics } from '../metrics/server-metrics.js';
import type { ModelVersion } from './model-version.js';
import type { RegistryObserver, ServedRequest } from './registry.js';

/** Records what the registry reports (and HTTP statuses) into {@link ServerMetrics}. */
export class MetricsRecorder implements Required<Pick<RegistryObserver, 'served' | 'batch' | 'workerLoaded' | 'changed' | 'removed'>> {
  readonly #metrics: ServerMetrics;
  readonly #versions: () => Iterable<ModelVersion>;

  /** `versions`: every registered version, to refresh the gauges after a management change. */
  constructor(metrics: ServerMetrics, versions: () => Iterable<ModelVersion>) {
    this.#metrics = metrics;
    this.#versions = versions;
  }

  /** One answered request: `ts_inference_requests_total`, the latency counters and histograms. */
  served(version: ModelVersion, request: ServedRequest): void {
    this.#metrics.recordInference({
      model: version.name,
      version: version.version,
      versionInUrl: request.versionNamed,
      queueMs: request.queueMs,
      inferenceMs: request.inferenceMs,
      totalMs: request.totalMs,
    });
  }

  batch(version: ModelVersion, batch: { size: number; queueMs: number; inferenceMs: number; handlerMs: number }): void {
    this.#metrics.recordBatch({ model: version.name, version: version.version, size: batch.size, workerThreadMs: batch.inferenceMs });
    // TorchServe measures PredictionTime around the backend's whole predict call and
    // HandlerTime around the handler: here the worker's round trip and the handler's own time.
    this.#metrics.recordHandler({ model: version.name, handlerMs: batch.handlerMs, predictionMs: batch.inferenceMs });
    this.#updateGauges(version);
  }

  workerLoaded(version: ModelVersion, worker: string, loadMs: number): void {
    this.#metrics.recordWorkerLoad(version.name, version.version, loadMs, worker);
    this.#updateGauges(version);
  }

  changed(): void {
    for (const version of this.#versions()) this.#updateGauges(version);
  }

  removed(version: ModelVersion): void {
    this.#metrics.removeModel(version.name, version.version);
  }

  /** One HTTP response of the inference or management API (`Requests2XX/4XX/5XX`). */
  response(status: number): void {
    this.#metrics.recordRequest(status);
  }

  #updateGauges(version: ModelVersion): void {
    // A version being removed must not leave fresh series behind (removed() ran already).
    if (version.closed) return;
    this.#metrics.setQueueDepth(version.name, version.version, version.queue.depth);
    this.#metrics.setWorkers(version.name, version.version, version.readyWorkers, version.liveWorkers - version.readyWorkers);
  }
}
