import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../core/log.js';
import { SNAPSHOT_SETTINGS } from '../core/serving-settings.js';
import { isArchiveCandidate } from '../serving/model-store.js';
import type { ModelRegistry } from '../serving/registry.js';
import type { ServerConfig, StartupModel } from './config.js';

/**
 * Registers the models a server starts with: the snapshot's (every version with its workers,
 * settings and default) when the config came from one, else `load_models`. A model that fails
 * to load is logged and skipped, as TorchServe does; the others still start.
 * `workers` is `default_workers_per_model` (a version's model-config.yaml may override it).
 * Returns the names loaded.
 */
export async function loadStartupModels(registry: ModelRegistry, config: ServerConfig, workers: number, logger: Logger): Promise<string[]> {
  const loaded = new Set<string>();
  const attempt = async (what: Record<string, unknown>, register: () => Promise<{ name: string }>) => {
    try {
      loaded.add((await register()).name);
    } catch (error) {
      logger.error({ err: error, ...what }, 'startup model failed to load');
    }
  };
  if (config.modelSnapshot) {
    for (const [name, versions] of Object.entries(config.modelSnapshot.models)) {
      for (const [version, settings] of Object.entries(versions)) {
        await attempt({ model: name, version }, () =>
          registry.register({
            url: settings.marName,
            modelName: name,
            // Every snapshot setting of the table; the worker counts as restored ones (they win).
            ...Object.fromEntries(SNAPSHOT_SETTINGS.flatMap((key) => (settings[key] === undefined ? [] : [[key, settings[key]]]))),
            restoredWorkers: { min: settings.minWorkers, max: settings.maxWorkers },
            makeDefault: settings.defaultVersion,
            loadedAtStartup: true,
          }),
        );
      }
    }
    return [...loaded];
  }
  const entries: readonly StartupModel[] =
    config.loadModels === 'all'
      ? config.modelStore
        ? readdirSync(config.modelStore)
            .filter((file) => !file.startsWith('.') && isArchiveCandidate(join(config.modelStore!, file)))
            .map((url) => ({ url }))
        : []
      : config.loadModels;
  for (const entry of entries) {
    await attempt({ url: entry.url }, () =>
      registry.register({ url: entry.url, ...(entry.name ? { modelName: entry.name } : {}), fallbackWorkers: workers, loadedAtStartup: true }),
    );
  }
  return [...loaded];
}
