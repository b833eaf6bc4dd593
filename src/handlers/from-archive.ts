import { existsSync, readFileSync } from 'node:fs';
import type { OpenArchiveOptions, OpenedArchive } from '../archive/read.js';
import { KilnError } from '../core/errors.js';
import { resolveInside } from '../core/fs.js';
import { KILN_VERSION } from '../core/version.js';
import type { Logger } from '../core/log.js';
import { withEngineDefaults, type EngineDefaults } from '../runtime/served-threads.js';
import { BatchContext, type ModelContextInit } from './context.js';
import { loadHandler } from './load.js';
import { isFailure, runBatch } from './run.js';
import type { Handler, SystemProperties } from './types.js';

/** A handler initialized on an opened archive, with the context its batches run in. */
export interface ReadyHandler {
  readonly handler: Handler;
  readonly model: ModelContextInit;
}

/** Options for {@link initializeArchiveHandler}. */
export interface InitializeOptions {
  readonly logger: Logger;
  /** @defaultValue the archive's batchSize, or 1 */
  readonly batchSize?: number;
  /** @defaultValue `'kiln'` */
  readonly serverName?: string;
  /** The registered name, when it differs from the manifest's (`models?url=a.mar&model_name=b`). */
  readonly modelName?: string;
  /** @defaultValue kiln's version */
  readonly serverVersion?: string;
  /** The version's worker count, for the handler's context. @defaultValue 1 */
  readonly workers?: number;
  /**
   * Defaults for the engines the handler's `initialize` loads (the model server's thread sizing,
   * see runtime/served-threads.ts). @defaultValue none (onnxruntime's defaults)
   */
  readonly engineDefaults?: EngineDefaults;
}

/** Loads the archive's handler and runs its `initialize` (loading the model). */
export async function initializeArchiveHandler(archive: OpenedArchive, options: InitializeOptions): Promise<ReadyHandler> {
  const systemProperties: SystemProperties = {
    model_dir: archive.dir,
    gpu_id: null,
    batch_size: options.batchSize ?? archive.modelConfig.server.batchSize ?? 1,
    server_name: options.serverName ?? 'kiln',
    server_version: options.serverVersion ?? KILN_VERSION,
    limit_max_image_pixels: true,
  };
  const model: ModelContextInit = {
    manifest: archive.manifest,
    ...(options.modelName ? { modelName: options.modelName } : {}),
    modelDir: archive.dir,
    modelPath: archive.modelPath,
    modelYamlConfig: archive.modelConfig.handler,
    systemProperties,
    ...(options.workers !== undefined ? { workers: options.workers } : {}),
    logger: options.logger.child({ model: archive.manifest.model.modelName, version: archive.manifest.model.modelVersion }),
  };
  const entered = performance.now();
  const handler = await loadHandler(archive.manifest.model.handler, archive.dir);
  const loaded = performance.now();
  try {
    const initialize = () => handler.initialize(new BatchContext(model, []));
    await (options.engineDefaults ? withEngineDefaults(options.engineDefaults, initialize) : initialize());
    const initialized = performance.now();
    const warmedUp = await warmUp(handler, model, archive);
    // Cold-start phases (bench/cold-start.ts reads them from the debug log).
    const phases = { loadMs: loaded - entered, initializeMs: initialized - loaded, ...(warmedUp ? { warmUpMs: performance.now() - initialized } : {}) };
    model.logger.debug(phases, 'handler initialized');
  } catch (error) {
    // A failing close() must not hide why initialize() failed.
    await handler.close?.().catch(() => undefined);
    if (error instanceof KilnError) throw error;
    throw new KilnError('KILN_HANDLER_LOAD_FAILED', `handler '${archive.manifest.model.handler}': initialize() failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return { handler, model };
}

/**
 * model-config.yaml `handler.warmup: <file of the archive>`: the file's bytes go through the
 * handler once, as the body of one request, after `initialize` and before the worker is ready,
 * so the first client request does not pay for first-use work (onnxruntime's first run, the
 * image library's start). A warm-up the handler answers with an error fails the load: the file
 * does not fit the model. Without the key (the default, as in TorchServe) nothing is run.
 */
async function warmUp(handler: Handler, model: ModelContextInit, archive: OpenedArchive): Promise<boolean> {
  const section = archive.modelConfig.handler['handler'];
  const file = section && typeof section === 'object' ? (section as Record<string, unknown>)['warmup'] : undefined;
  if (file === undefined) return false;
  const spec = archive.manifest.model.handler;
  const path = typeof file === 'string' ? resolveInside(archive.dir, file) : undefined;
  if (!path || !existsSync(path)) {
    throw new KilnError('KILN_HANDLER_LOAD_FAILED', `handler '${spec}': handler.warmup must name a file of the archive, got ${JSON.stringify(file)}`);
  }
  const [outcome] = await runBatch(handler, model, [{ id: 'warmup', input: { body: readFileSync(path) } }]);
  if (!outcome || isFailure(outcome)) {
    // The outcome's message is what a client would see; its cause says what the handler threw.
    const reason = outcome ? [outcome.message, ...(outcome.cause instanceof Error ? [outcome.cause.message] : [])].join(': ') : 'no answer';
    throw new KilnError('KILN_HANDLER_LOAD_FAILED', `handler '${spec}': the warm-up request (${file}) failed: ${reason}`, {
      ...(outcome ? { cause: outcome } : {}),
    });
  }
  return true;
}

/**
 * Opens an archive, initializes its handler, runs `work`, then closes the handler and removes
 * the extracted files, whatever happens. The first error wins: a failing clean-up never hides
 * the error that made the work fail.
 */
export async function withArchiveHandler<T>(
  archivePath: string,
  options: InitializeOptions & { readonly open?: OpenArchiveOptions },
  work: (ready: ReadyHandler, archive: OpenedArchive) => Promise<T>,
): Promise<T> {
  // Imported here: a handler thread is handed an archive opened already and never loads the readers.
  const { openArchive } = await import('../archive/read.js');
  const archive = await openArchive(archivePath, options.open ?? {});
  let ready: ReadyHandler | undefined;
  try {
    ready = await initializeArchiveHandler(archive, options);
    return await work(ready, archive);
  } finally {
    await ready?.handler.close?.().catch((error: unknown) => options.logger.warn({ err: error }, 'handler close failed'));
    await archive.remove().catch((error: unknown) => options.logger.warn({ err: error }, 'archive clean-up failed'));
  }
}
