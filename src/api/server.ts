/**
 * `kiln/server`: kiln's model server started from code. {@link startServer} reads the same
 * configuration `kiln serve` does (config.properties keys, TorchServe's names and defaults) and
 * returns the running {@link KilnServer}. Named exports only, as in `kiln`.
 */
export { startServer, type StartServerOptions } from '../server/start.js';
export { KilnServer } from '../server/app.js';
export { resolveServerConfig, DEFAULT_SERVER_CONFIG, type ServerConfig, type ServerConfigOptions } from '../server/config.js';
export type { ListenAddress, LoadModels, MetricsMode, StartupModel } from '../server/config-values.js';
export { parseProperties } from '../core/properties.js';
