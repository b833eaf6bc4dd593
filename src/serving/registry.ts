import { rmSync } from 'node:fs';
import { basename } from 'node:path';
import { openArchive, withHandler, type OpenedArchive } from '../archive/read.js';
import { KilnError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { BatchRequest } from '../handlers/run.js';
import type { ServedResponse } from './batch-queue.js';
import { InProcessHost, type HandlerHost, type HostInit } from './handler-host.js';
import { ModelVersion, type RequestOrigin } from './model-version.js';
import { ThreadHost } from './thread-host.js';
import { stopSpareThreads } from '../core/ts-thread.js';
import { prestartHandlerThread } from './spare-handler-thread.js';
import { ProcessHost } from './process-host.js';
import { DEFAULT_WORKER_MEMORY_MIB, resolveIsolation, type IsolationPolicy, type VersionIsolation } from './isolation.js';
import { resolveArchiveUrl, type ModelStoreConfig } from './model-store.js';
import { resolveSettings, type ServingDefaults, type SettingsOverrides, type VersionSettings } from './settings.js';
import { DurableView, snapshotFailed, type PendingChange } from './durable-view.js';
import { describeVersion, type VersionDescription } from './describe.js';

/** A model: its versions and which one answers when a request names none. */
interface Model {
  readonly versions: Map<string, ModelVersion>;
  defaultVersion: string;
}

/** Registration parameters (TorchServe's `POST /models`). */
export interface RegisterOptions extends SettingsOverrides {
  readonly url: string;
  readonly modelName?: string;
  /** Serve with this handler instead of the manifest's (TorchServe's `handler` parameter). */
  readonly handler?: string;
  /** Wait for the workers before answering. @defaultValue true (what TorchServe's code does) */
  readonly synchronous?: boolean;
  readonly loadedAtStartup?: boolean;
  /** Make this version the default even when the model has one. */
  readonly makeDefault?: boolean;
  /** The workflow this model is a node of: such models are not written to snapshots, as in TorchServe. */
  readonly workflow?: string;
}

/** What registration did: 200 with a worker count, or 202 while workers start. */
export type RegisterOutcome =
  | { readonly status: 'registered'; readonly name: string; readonly version: string; readonly workers: number }
  | { readonly status: 'accepted'; readonly name: string; readonly version: string };

/**
 * Receives what happens, for metrics and snapshots. Each event carries the {@link ModelVersion}
 * it concerns (its `name`, `version`, queue and workers), so an observer never looks it up.
 */
export interface RegistryObserver {
  /**
   * One request answered, from whichever entry point (see {@link RequestOrigin}): the one place
   * requests are counted, so the TorchServe routes, OIP over REST and gRPC, and workflow nodes
   * cannot count differently.
   */
  served?(version: ModelVersion, request: ServedRequest): void;
  batch?(version: ModelVersion, batch: { size: number; queueMs: number; inferenceMs: number; handlerMs: number }): void;
  workerLoaded?(version: ModelVersion, worker: string, loadMs: number): void;
  /** After every register, scale, unregister and set-default. */
  changed?(): void;
  removed?(version: ModelVersion): void;
}

/** One answered request, as {@link RegistryObserver.served} reports it. */
export interface ServedRequest {
  /** The caller named the version. */
  readonly versionNamed: boolean;
  /** Milliseconds it waited in the queue, and its batch's round trip to the worker. */
  readonly queueMs: number;
  readonly inferenceMs: number;
  /** Milliseconds from its arrival at the entry point to its answer. */
  readonly totalMs: number;
}

/** What the registry needs. */
export interface RegistryInit {
  readonly store: ModelStoreConfig;
  readonly defaults: ServingDefaults;
  /** Per-model settings from config.properties `models=`, by name then version. */
  readonly configured?: Readonly<Record<string, Readonly<Record<string, SettingsOverrides>>>>;
  readonly logger: Logger;
  readonly observer?: RegistryObserver;
  /**
   * Makes {@link ModelRegistry.durableEntries} durable (the server writes a snapshot), synchronously,
   * and throws when it cannot. Every register, scale, set-default and unregister calls it before
   * it is acknowledged; when it throws, the change is undone and the caller gets
   * `KILN_SERVE_SNAPSHOT_FAILED`. Synchronous so that no other change can slip in between.
   */
  readonly persist?: () => void;
  /**
   * Where workers run handlers (see {@link resolveIsolation}): a process each, a worker thread
   * each (keeping the event loop free of onnxruntime's synchronous run and handler JavaScript),
   * or `in-process` (tests). @defaultValue auto: a process for user handlers, a thread for built-ins, 4096 MiB
   */
  readonly isolation?: IsolationPolicy;
  /**
   * Seconds an unregister waits for the version's workers to stop before it answers
   * `KILN_SERVE_UNREGISTER_TIMEOUT` (TorchServe's `unregister_model_timeout`, 408); the version
   * is gone either way and its workers go on stopping. @defaultValue 120
   */
  readonly unregisterTimeout?: number;
  /**
   * Keep one handler thread started ahead of need ({@link ModelRegistry.prestartHandlerThread}),
   * its modules (onnxruntime, sharp, the built-in handlers) loaded: a model registered with
   * thread isolation then starts its first worker without the thread's start-up. Costs one idle
   * thread (tens of MiB). @defaultValue false (the server turns it on)
   */
  readonly spareThread?: boolean;
}

/**
 * How long after a registration the next spare thread starts: its start-up would otherwise
 * compete for the CPU with the first requests to the model just registered.
 */
const SPARE_THREAD_DELAY_MS = 1000;

/** One row of `GET /models`. */
export interface ListedModel {
  readonly modelName: string;
  readonly modelUrl: string;
}

/**
 * The transport-free model server: registered models with versions and defaults, their
 * workers and queues. HTTP code calls these methods and maps KilnErrors to statuses; nothing
 * here knows about HTTP.
 */
export class ModelRegistry {
  readonly #models = new Map<string, Model>();
  readonly #pending = new Set<string>();
  readonly #downloaded = new Map<ModelVersion, string>();
  readonly #init: RegistryInit;
  readonly #loadedAtStartup = new WeakSet<ModelVersion>();
  readonly #durable = new DurableView();

  #spareTimer: NodeJS.Timeout | undefined;

  constructor(init: RegistryInit) {
    this.#init = init;
  }

  /**
   * Starts a spare handler thread now, when {@link RegistryInit.spareThread} is on and none
   * waits; or, with `delayMs`, that long from now (unless the registry closes first).
   */
  prestartHandlerThread(delayMs = 0): void {
    if (!this.#init.spareThread) return;
    clearTimeout(this.#spareTimer);
    const start = prestartHandlerThread;
    if (delayMs === 0) start();
    else this.#spareTimer = setTimeout(start, delayMs).unref();
  }

  #model(name: string): Model {
    const model = this.#models.get(name);
    if (!model) throw new KilnError('KILN_SERVE_MODEL_NOT_FOUND', `Model not found: ${name}`, { details: { model: name } });
    return model;
  }

  /** A version, or the default one when `version` is undefined. */
  version(name: string, version?: string): ModelVersion {
    const model = this.#model(name);
    const found = model.versions.get(version ?? model.defaultVersion);
    if (!found) {
      throw new KilnError('KILN_SERVE_VERSION_NOT_FOUND', `Model version: ${version} does not exist for model: ${name}`, {
        details: { model: name, version },
      });
    }
    return found;
  }

  /** Registers an archive; see {@link RegisterOptions}. Fails cleanly: nothing stays registered. */
  async register(options: RegisterOptions): Promise<RegisterOutcome> {
    const started = performance.now();
    const resolved = await resolveArchiveUrl(options.url, this.#init.store);
    let archive;
    try {
      archive = await openWithHandler(resolved.path, options.handler);
    } catch (error) {
      if (resolved.downloaded) rmSync(resolved.path, { force: true });
      throw error;
    }
    // Cold-start phases (bench/cold-start.ts reads them from the debug log).
    this.#init.logger.debug({ url: options.url, openMs: performance.now() - started }, 'archive opened');
    return this.#add(archive, options, resolved.downloaded ? resolved.path : undefined);
  }

  /**
   * Registers an archive that is already open, such as a workflow's function node (its handler
   * lives in the workflow's files); `options.url` is only reported. The archive is the
   * registry's from here on: it is removed when the version is.
   */
  registerOpened(archive: OpenedArchive, options: RegisterOptions): Promise<RegisterOutcome> {
    return this.#add(archive, options, undefined);
  }

  async #add(archive: OpenedArchive, options: RegisterOptions, downloaded: string | undefined): Promise<RegisterOutcome> {
    const name = options.modelName ?? archive.manifest.model.modelName;
    const versionName = archive.manifest.model.modelVersion;
    const key = `${name}\u0000${versionName}`;
    if (this.#models.get(name)?.versions.has(versionName) || this.#pending.has(key)) {
      await archive.remove();
      if (downloaded) rmSync(downloaded, { force: true });
      throw new KilnError('KILN_SERVE_MODEL_EXISTS', `Model version ${versionName} is already registered for model ${name}`);
    }
    this.#pending.add(key);
    try {
      const isolation = resolveIsolation(archive, this.#init.isolation ?? { mode: 'auto', maxMemoryMiB: DEFAULT_WORKER_MEMORY_MIB });
      const settings = resolveSettings(this.#init.defaults, archive.modelConfig.server, options, this.#init.configured?.[name]?.[versionName]);
      const version = new ModelVersion({
        name,
        version: versionName,
        // A downloaded archive is restored from its copy in the store, not downloaded again.
        url: downloaded ? basename(downloaded) : options.url,
        archive,
        settings,
        workflow: options.workflow,
        logger: this.#init.logger,
        observe: {
          served: (response, origin) =>
            this.#init.observer?.served?.(version, {
              versionNamed: origin.versionNamed,
              queueMs: response.queueMs,
              inferenceMs: response.inferenceMs,
              totalMs: performance.now() - origin.arrived,
            }),
          batch: (batch) => this.#init.observer?.batch?.(version, batch),
          loaded: (worker, loadMs) => this.#init.observer?.workerLoaded?.(version, worker, loadMs),
        },
        createHost: (init) => createHost(init, isolation),
      });
      if (downloaded) this.#downloaded.set(version, downloaded);
      if (options.loadedAtStartup) this.#loadedAtStartup.add(version);
      const model = this.#models.get(name) ?? { versions: new Map(), defaultVersion: versionName };
      model.versions.set(versionName, version);
      this.#durable.unsettled.add(version);
      if (options.makeDefault) model.defaultVersion = versionName;
      this.#models.set(name, model);
      const workers = settings.minWorkers;
      const starting = version.scale(workers, settings.maxWorkers);
      if (options.synchronous === false && workers > 0) {
        starting.catch((error: unknown) => {
          this.#init.logger.error({ err: error, model: name, version: versionName }, 'workers failed to start; unregistering');
          // Only this registration: the name may have been unregistered and registered again meanwhile.
          if (this.#models.get(name)?.versions.get(versionName) === version) {
            void this.#remove(name, versionName).then(() => this.#persistQuietly());
          }
        });
        await this.#settle(name, version);
        return { status: 'accepted', name, version: versionName };
      }
      try {
        await starting;
      } catch (error) {
        await this.#remove(name, versionName);
        throw error;
      } finally {
        if (isolation.mode === 'thread' && workers > 0) this.prestartHandlerThread(SPARE_THREAD_DELAY_MS);
      }
      await this.#settle(name, version);
      return { status: 'registered', name, version: versionName, workers };
    } finally {
      this.#pending.delete(key);
    }
  }

  /** Sets a version's worker count (`PUT /models/{m}[/{v}]`). */
  async scale(name: string, version: string | undefined, min: number, max: number, synchronous: boolean): Promise<'done' | 'accepted'> {
    const target = this.version(name, version);
    // The new counts go to disk first: if they cannot, no worker has changed.
    this.#persist(target, 'the workers were not scaled', { scaled: { version: target, min, max: Math.max(min, max) } });
    const scaling = target.scale(min, max);
    this.#init.observer?.changed?.();
    if (!synchronous) {
      scaling.catch((error: unknown) => this.#init.logger.error({ err: error, model: name }, 'scaling failed'));
      return 'accepted';
    }
    await scaling;
    return 'done';
  }

  /** Removes a version (the default one when none is named). The default goes last. */
  async unregister(name: string, version?: string): Promise<void> {
    const model = this.#model(name);
    const target = this.version(name, version);
    if (target.version === model.defaultVersion && model.versions.size > 1) {
      throw new KilnError('KILN_SERVE_DEFAULT_VERSION', `Cannot remove default version for model ${name}`);
    }
    // A snapshot without the version first: if it cannot be written, nothing is removed.
    this.#persist(target, 'nothing was unregistered', { leaving: target });
    const removal = this.#remove(name, target.version);
    this.#init.observer?.changed?.();
    if (!(await settlesWithin(removal, this.#init.unregisterTimeout ?? 120))) {
      removal.catch((error: unknown) => this.#init.logger.error({ err: error, model: name }, 'unregister clean-up failed'));
      throw new KilnError('KILN_SERVE_UNREGISTER_TIMEOUT', `Timed out while cleaning resources: ${name}`, {
        details: { model: name, version: target.version },
      });
    }
  }

  async #remove(name: string, versionName: string): Promise<void> {
    const model = this.#models.get(name);
    const version = model?.versions.get(versionName);
    if (!model || !version) return;
    model.versions.delete(versionName);
    if (model.versions.size === 0) this.#models.delete(name);
    else if (model.defaultVersion === versionName) model.defaultVersion = [...model.versions.keys()][0]!;
    await version.close();
    const downloaded = this.#downloaded.get(version);
    if (downloaded) rmSync(downloaded, { force: true, recursive: true });
    this.#init.observer?.removed?.(version);
  }

  /** `PUT /models/{m}/{v}/set-default`. */
  setDefault(name: string, version: string): void {
    const model = this.#model(name);
    const target = this.version(name, version);
    const previous = model.defaultVersion;
    model.defaultVersion = version;
    try {
      this.#persist(target, 'the default version was not changed');
    } catch (error) {
      model.defaultVersion = previous;
      throw error;
    }
    this.#init.observer?.changed?.();
  }

  /** `GET /models/{m}[/{v}|/all]`: always a list. */
  describe(name: string, version?: string | 'all'): VersionDescription[] {
    const model = this.#model(name);
    const versions = version === 'all' ? [...model.versions.values()] : [this.version(name, version)];
    return versions.map((entry) => describeVersion(entry, this.#loadedAtStartup.has(entry)));
  }

  /** `GET /models`: default versions, by name, paged as TorchServe pages. */
  list(limit: number, token: number): { models: ListedModel[]; nextPageToken?: string } {
    const names = [...this.#models.keys()].sort();
    const page = names.slice(token, token + limit).map((name) => ({ modelName: name, modelUrl: this.version(name).url }));
    return token + limit <= names.length ? { nextPageToken: String(token + limit), models: page } : { models: page };
  }

  /**
   * Runs one request on a version (the default when none is named). `origin` says where it
   * entered, so that it is counted (see {@link RegistryObserver.served}).
   */
  predict(name: string, version: string | undefined, request: BatchRequest, origin?: RequestOrigin): Promise<ServedResponse> {
    try {
      return this.version(name, version).predict(request, origin);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** /ping: every model's default version has its minimum workers (or is within its retry window). */
  healthy(): boolean {
    return [...this.#models.keys()].every((name) => this.version(name).healthy());
  }

  /** Model names and versions, for snapshots and metrics. */
  *entries(): Generator<{ name: string; version: ModelVersion; isDefault: boolean }> {
    for (const [name, model] of this.#models) {
      for (const version of model.versions.values()) yield { name, version, isDefault: version.version === model.defaultVersion };
    }
  }

  /**
   * What a snapshot holds: acknowledged versions only (a registration still starting its workers
   * is left out), as the change being persisted will leave them.
   */
  *durableEntries(): Generator<{ name: string; version: ModelVersion; isDefault: boolean; settings: VersionSettings }> {
    for (const entry of this.entries()) {
      const settings = this.#durable.settingsOf(entry.version);
      if (settings) yield { ...entry, settings };
    }
  }

  // ---- durability: each change is persisted before it is acknowledged, or undone ----------

  /**
   * Persists the durable view, with `pending` applied, for a change to `target`; a version of a
   * workflow is never in snapshots, so its changes need nothing written.
   * @throws KilnError `KILN_SERVE_SNAPSHOT_FAILED` saying `undone` (what happened instead).
   */
  #persist(target: ModelVersion, undone: string, pending: PendingChange = {}): void {
    if (!this.#init.persist || target.workflow !== undefined) return;
    this.#durable.pending = pending;
    try {
      this.#init.persist();
    } catch (error) {
      throw snapshotFailed(error, undone);
    } finally {
      this.#durable.pending = {};
    }
  }

  /** Acknowledges a registration: into the durable view and onto disk, or removed again. */
  async #settle(name: string, version: ModelVersion): Promise<void> {
    this.#durable.unsettled.delete(version);
    try {
      this.#persist(version, 'the registration was rolled back');
    } catch (error) {
      await this.#remove(name, version.version);
      throw error;
    }
    this.#init.observer?.changed?.();
  }

  /** After a change nobody waits for (a 202 registration whose workers failed): log a failure. */
  #persistQuietly(): void {
    try {
      this.#init.persist?.();
    } catch (error) {
      this.#init.logger.error({ err: error }, 'could not write the config snapshot');
    }
    this.#init.observer?.changed?.();
  }

  /** Kills every worker's handler at once (shutdown past its deadline). */
  async kill(): Promise<void> {
    await Promise.all([...this.entries()].map(({ version }) => version.kill()));
  }

  /** Stops every worker and removes every extracted archive. */
  async close(): Promise<void> {
    clearTimeout(this.#spareTimer);
    if (this.#init.spareThread) await stopSpareThreads();
    await Promise.all([...this.entries()].map(({ name, version }) => this.#remove(name, version.version)));
  }
}

/** Opens an archive, served with `handler` when one is given; nothing stays extracted on failure. */
async function openWithHandler(path: string, handler: string | undefined): Promise<OpenedArchive> {
  const archive = await openArchive(path);
  if (handler === undefined) return archive;
  try {
    return withHandler(archive, handler);
  } catch (error) {
    await archive.remove();
    throw error;
  }
}

/** True when `work` settles within `seconds` (a rejection still reaches the caller). */
async function settlesWithin(work: Promise<unknown>, seconds: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), seconds * 1000)));
  try {
    return await Promise.race([work.then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

function createHost(init: HostInit, isolation: VersionIsolation): HandlerHost {
  if (isolation.mode === 'process') return new ProcessHost(init, { maxMemoryMiB: isolation.maxMemoryMiB });
  return isolation.mode === 'thread' ? new ThreadHost(init) : new InProcessHost(init);
}
