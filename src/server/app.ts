import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { cpus } from 'node:os';
import type { AddressInfo } from 'node:net';
import { removeOrphanedExtractions } from '../archive/extract.js';
import { KilnError } from '../core/errors.js';
import { MAX_WORKERS } from '../core/serving-limits.js';
import type { Logger } from '../core/log.js';
import type { ServerMetrics } from '../metrics/server-metrics.js';
import { createSystemSampler } from '../metrics/system.js';
import { MetricsRecorder } from '../serving/metrics-recorder.js';
import { ModelRegistry } from '../serving/registry.js';
import { SERVING_DEFAULTS } from '../serving/settings.js';
import { takeSnapshot, writeSnapshot, type SnapshotKind } from '../serving/snapshot.js';
import { WorkflowRegistry } from '../serving/workflow-registry.js';
import { isModelApiEnabled, isTokenAuthRequired, loadsModelsAtStart, type ListenAddress, type ServerConfig } from './config.js';
import type { ApiSettings, RequestContext } from './context.js';
import { createListener, requireHost } from './http/listener.js';
import { discardBody } from './http/request-body.js';
import { sendError, type ResponseContext } from './http/response.js';
import type { Router } from './http/router.js';
import { TokenAuth } from './auth.js';
import { inferenceRouter } from './inference-api.js';
import { managementRouter } from './management-api.js';
import { sendOipError } from './oip-api.js';
import { OipDecoder } from './oip/decoder.js';
import type { OipGrpcServer } from './oip-grpc.js';
import { metricsRouter } from './metrics-api.js';
import { loadStartupModels } from './startup-models.js';
import { ignoredProperties } from './config-ignored.js';
import { resolveAcross, sameListener, type Api, type ApiRouter } from './listener-apis.js';

/** How long after the server listens its spare handler thread starts (see `spare_handler_thread`). */
const SPARE_THREAD_AFTER_LISTEN_MS = 200;

/** What a running server needs. */
export interface KilnServerInit {
  readonly config: ServerConfig;
  /** The config file's properties, copied into snapshots. */
  readonly properties: ReadonlyMap<string, string>;
  /** Where `key_file.json` goes when token auth is on. @defaultValue the working directory */
  readonly keyFileDir?: string;
  readonly logger: Logger;
  readonly metrics: ServerMetrics;
}


/**
 * kiln's model server: three listeners (inference, management, metrics) in front of one
 * transport-free ModelRegistry. Every management change writes a snapshot before it is
 * acknowledged (a change that cannot be written is undone and answered 500); SIGTERM-style
 * {@link KilnServer.stop} drains in-flight requests, writes a shutdown snapshot, and frees workers.
 */
export class KilnServer {
  readonly registry: ModelRegistry;
  /** Workflows (model DAGs): their models live in {@link KilnServer.registry}. */
  readonly workflows: WorkflowRegistry;
  readonly #init: KilnServerInit;
  readonly #servers = new Map<Api, Server>();
  #settings: ApiSettings;
  readonly #auth: TokenAuth | undefined;
  readonly #oip = new OipDecoder();
  /** The one recorder of request, batch and worker metrics (every entry point reaches it). */
  readonly #recorder: MetricsRecorder;
  /** The Open Inference Protocol over gRPC, when `grpc_inference_port` is set. */
  #grpc: OipGrpcServer | undefined;
  #inFlight = 0;
  /** Off while startup models load: a snapshot of half of them would lose the rest on a crash. */
  #snapshots = false;
  #drained: (() => void) | undefined;
  #stopping = false;

  private constructor(init: KilnServerInit, startupModels: string[]) {
    this.#init = init;
    const { config } = init;
    this.#recorder = new MetricsRecorder(init.metrics, () => [...this.registry.entries()].map((entry) => entry.version));
    this.#settings = {
      maxRequestSize: config.maxRequestSize,
      maxResponseSize: config.maxResponseSize,
      decodeInputRequest: config.decodeInputRequest,
      enableModelApi: isModelApiEnabled(config),
      startupModels,
      ...(config.serviceEnvelope ? { serviceEnvelope: config.serviceEnvelope } : {}),
      cors: {
        ...(config.corsAllowedOrigin ? { origin: config.corsAllowedOrigin } : {}),
        ...(config.corsAllowedMethods ? { methods: config.corsAllowedMethods } : {}),
        ...(config.corsAllowedHeaders ? { headers: config.corsAllowedHeaders } : {}),
      },
    };
    this.#auth = isTokenAuthRequired(config) ? new TokenAuth(init.keyFileDir ?? process.cwd(), config.tokenExpirationMin) : undefined;
    this.registry = new ModelRegistry({
      store: { modelStore: config.modelStore, allowedUrls: config.allowedUrls },
      defaults: {
        ...SERVING_DEFAULTS,
        // TorchServe registers over REST with 0 workers unless initial_workers says otherwise;
        // default_workers_per_model applies to the models loaded at startup.
        workers: 0,
        batchSize: config.batchSize,
        maxBatchDelay: config.maxBatchDelay,
        responseTimeout: config.defaultResponseTimeout,
        startupTimeout: config.defaultStartupTimeout,
        jobQueueSize: config.jobQueueSize,
      },
      configured: config.models,
      isolation: { mode: config.workerIsolation, maxMemoryMiB: config.workerMaxMemoryMiB },
      unregisterTimeout: config.unregisterModelTimeout,
      spareThread: config.spareHandlerThread,
      logger: init.logger,
      // Every management change is on disk before it is acknowledged, or undone (it throws).
      persist: () => this.#persist(),
      // Every request, batch and worker is recorded in this one place (serving/metrics-recorder.ts).
      observer: this.#recorder,
    });
    this.workflows = new WorkflowRegistry({
      models: this.registry,
      store: { modelStore: config.modelStore, allowedUrls: config.allowedUrls },
      logger: init.logger,
    });
  }

  /** Loads the startup models (snapshot or load_models) and starts listening. */
  static async start(init: KilnServerInit): Promise<KilnServer> {
    // Archives unpacked by a server that was killed (kill -9, OOM) would stay in the temp folder.
    const orphans = await removeOrphanedExtractions();
    if (orphans.length > 0) init.logger.info({ removed: orphans.length }, 'removed the archive folders of servers that no longer run');
    for (const { key, reason } of ignoredProperties(init.properties)) init.logger.warn({ key }, `config key ${key} is accepted and has no effect: ${reason}`);
    const server = new KilnServer(init, []);
    const startupWorkers = init.config.defaultWorkersPerModel === 0 ? Math.min(cpus().length, MAX_WORKERS) : init.config.defaultWorkersPerModel;
    // A spare handler thread starts now when models load at start (its start-up overlaps their
    // archives' extraction), else once the server listens (not delaying its first answer).
    const startupModels = loadsModelsAtStart(init.config);
    if (startupModels) server.registry.prestartHandlerThread();
    const names = await loadStartupModels(server.registry, init.config, startupWorkers, init.logger);
    server.#settings = { ...server.#settings, startupModels: names };
    server.#snapshots = true;
    server.#snapshot('startup');
    try {
      if (sameListener(init.config.inferenceAddress, init.config.managementAddress)) {
        // TorchServe's KServe config.properties puts both APIs on :8085: one listener, as TorchServe does.
        await server.#listen(['inference', 'management'], init.config.inferenceAddress, [['inference', inferenceRouter()], ['management', managementRouter()]]);
      } else {
        await server.#listen(['inference'], init.config.inferenceAddress, [['inference', inferenceRouter()]]);
        await server.#listen(['management'], init.config.managementAddress, [['management', managementRouter()]]);
      }
      if (init.config.enableMetricsApi) {
        const { metricsTextFormat: format, disableSystemMetrics } = init.config;
        const router = metricsRouter(init.metrics, { format, ...(disableSystemMetrics ? {} : { sampler: createSystemSampler() }) });
        await server.#listen(['metrics'], init.config.metricsAddress, [['metrics', router]]);
      }
      if (init.config.grpcInferencePort !== undefined) {
        // Loaded only when a gRPC port is set: grpc-js and its proto loader are a third of the
        // server's start-up imports (docs/benchmarks.md, CLI start).
        const { OipGrpcServer } = await import('./oip-grpc.js');
        server.#grpc = await OipGrpcServer.start(init.config.grpcInferenceAddress, init.config.grpcInferencePort, {
          registry: server.registry,
          decoder: server.#oip,
          maxRequestSize: init.config.maxRequestSize,
          maxResponseSize: init.config.maxResponseSize,
          logger: init.logger,
        });
        init.logger.info({ api: 'grpc', address: server.#grpc.address }, 'listening');
      }
    } catch (error) {
      await server.stop();
      throw error;
    }
    // A moment after listening: a server stopped at once (tests, scripts) never pays for one.
    if (!startupModels) server.registry.prestartHandlerThread(SPARE_THREAD_AFTER_LISTEN_MS);
    return server;
  }

  /** Where each API listens (`http://127.0.0.1:8080` or `unix:/path`), ports resolved. */
  addresses(): Partial<Record<Api | 'grpc', string>> {
    const out: Partial<Record<Api | 'grpc', string>> = {};
    if (this.#grpc) out.grpc = this.#grpc.address;
    for (const [api, server] of this.#servers) {
      const address = server.address();
      out[api] = typeof address === 'string' ? `unix:${address}` : `http://${(address as AddressInfo).address}:${(address as AddressInfo).port}`;
    }
    return out;
  }

  /** Writes the snapshot of a management change; throws when it cannot (the registry undoes the change). */
  #persist(): void {
    const { config, properties } = this.#init;
    if (!config.configSnapshots || !this.#snapshots) return;
    writeSnapshot(config.snapshotDir, 'snapshot', properties, takeSnapshot(this.registry, 'snapshot'));
  }

  /** The startup and shutdown snapshots acknowledge nothing: a failure is logged. */
  #snapshot(kind: SnapshotKind): void {
    const { config, logger, properties } = this.#init;
    if (!config.configSnapshots || !this.#snapshots) return;
    try {
      writeSnapshot(config.snapshotDir, kind, properties, takeSnapshot(this.registry, kind));
    } catch (error) {
      logger.error({ err: error }, 'could not write the config snapshot');
    }
  }

  /** Listens on `address` for `apis`, whose routers are tried in order (see {@link resolveAcross}). */
  async #listen(apis: readonly Api[], address: ListenAddress, routers: readonly ApiRouter[]): Promise<void> {
    const api = apis.join(' and ');
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.#handle(routers, req, res);
    const server = createListener(handler, {
      ...(address.protocol === 'https' ? { tls: this.#tlsOptions() } : {}),
      maxRequestSize: () => this.#settings.maxRequestSize,
      context: () => this.#responseContext(),
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) =>
        reject(new KilnError('KILN_SERVE_CONFIG_INVALID', `cannot listen on ${describeAddress(address)} for the ${api} API: ${error.message}`, { cause: error })),
      );
      if (address.protocol === 'unix') server.listen(address.path, resolve);
      else server.listen(address.port, address.host, resolve);
    });
    for (const name of apis) this.#servers.set(name, server);
    this.#init.logger.info({ api, address: this.addresses()[apis[0]!] }, 'listening');
  }

  /** A fresh request id and the configured CORS headers, for answers written outside a route. */
  #responseContext(): ResponseContext {
    const cors = this.#settings.cors;
    return { requestId: randomUUID(), ...(cors && Object.keys(cors).length ? { cors } : {}) };
  }

  #tlsOptions(): { key?: Buffer; cert?: Buffer; pfx?: Buffer; passphrase?: string } {
    const { config } = this.#init;
    if (config.keystore) return { pfx: readFileSync(config.keystore), ...(config.keystorePass ? { passphrase: config.keystorePass } : {}) };
    if (config.privateKeyFile && config.certificateFile) return { key: readFileSync(config.privateKeyFile), cert: readFileSync(config.certificateFile) };
    throw new KilnError('KILN_SERVE_CONFIG_INVALID', 'an https:// address needs private_key_file and certificate_file (or keystore)');
  }

  async #handle(routers: readonly ApiRouter[], req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The route, the API it belongs to, the key it needs and its error body, decided once from the request target.
    const { api, resolved } = resolveAcross(routers, req.method ?? 'GET', req.url ?? '/');
    const ctx: RequestContext = {
      requestId: randomUUID(),
      logger: this.#init.logger,
      registry: this.registry,
      workflows: this.workflows,
      oip: this.#oip,
      settings: this.#settings,
      started: performance.now(),
      ...(this.#auth ? { auth: this.#auth } : {}),
      ...(this.#settings.cors && Object.keys(this.#settings.cors).length ? { cors: this.#settings.cors } : {}),
    };
    this.#inFlight++;
    res.once('close', () => {
      const ms = performance.now() - ctx.started;
      if (api !== 'metrics') this.#recorder.response(res.statusCode);
      this.#init.logger.info(
        { requestId: ctx.requestId, api, method: req.method, url: req.url, status: res.statusCode, ms: Math.round(ms * 10) / 10, remote: req.socket.remoteAddress },
        'request',
      );
      if (--this.#inFlight === 0) this.#drained?.();
    });
    try {
      requireHost(req);
      if (this.#stopping) throw new KilnError('KILN_SERVE_NO_WORKER', 'The server is shutting down.');
      if (this.#auth && api !== 'metrics' && resolved.auth !== 'none') {
        this.#auth.check(req, resolved.auth === 'api' ? 'API' : api === 'management' ? 'management' : 'inference');
      }
      if ('error' in resolved) throw resolved.error;
      await resolved.match.handler(req, res, resolved.match.params, ctx);
    } catch (error) {
      if (!(error instanceof KilnError) || error.kind === 'internal' || error.kind === 'unknown') {
        this.#init.logger.error({ err: error, requestId: ctx.requestId }, 'request failed');
      }
      await discardBody(req, this.#settings.maxRequestSize);
      // A parser error in the body was answered on the socket itself (clientError); nobody reads more.
      if (!req.socket.writable) return;
      // As the route declares (by the routed path, so `/%762/…` and `http://host/v2/…` get the OIP body too).
      if (resolved.errors === 'oip') sendOipError(res, error, ctx);
      else sendError(res, error, ctx);
    }
  }

  /**
   * Stops accepting connections, waits up to `deadlineMs` for in-flight requests, writes the
   * shutdown snapshot, and stops every worker.
   */
  async stop(deadlineMs = 30_000): Promise<void> {
    this.#stopping = true;
    // One listener may serve two APIs (inference and management on one address).
    const servers = [...new Set(this.#servers.values())];
    const closed = servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const server of servers) server.closeIdleConnections();
    if (this.#inFlight > 0) {
      await Promise.race([new Promise<void>((resolve) => (this.#drained = resolve)), new Promise((resolve) => setTimeout(resolve, deadlineMs).unref())]);
    }
    for (const server of servers) server.closeAllConnections();
    await Promise.all([...closed, this.#grpc?.close(deadlineMs)]);
    this.#snapshot('shutdown');
    // Nothing after the shutdown snapshot may write another (unregistering workflows would).
    this.#snapshots = false;
    // Past the deadline, busy workers are killed rather than waited for (up to responseTimeout).
    await this.registry.kill();
    await this.workflows.close();
    await this.registry.close();
    await this.#oip.close();
    this.#auth?.remove();
  }

  /** Where the key file is, when token auth is on. */
  get keyFile(): string | undefined {
    return this.#auth?.path;
  }
}

function describeAddress(address: ListenAddress): string {
  return address.protocol === 'unix' ? `unix:${address.path}` : `${address.protocol}://${address.host}:${address.port}`;
}
