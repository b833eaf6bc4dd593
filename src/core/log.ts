import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Options for {@link createLogger}. */
export interface LoggerFactoryOptions {
  /** Minimum level written. @defaultValue `'info'` (or `KILN_LOG_LEVEL` when set) */
  readonly level?: string;
  /** Where JSON lines go. @defaultValue standard error, so stdout stays free for command output */
  readonly destination?: NodeJS.WritableStream;
  /** Fixed fields on every line, e.g. `{ component: 'server' }`. */
  readonly base?: Record<string, unknown>;
}

/**
 * Creates the root pino logger. Library code never builds its own: it receives a logger
 * (or a child of one) from its caller, so tests can inject a silent one.
 */
export function createLogger(options: LoggerFactoryOptions = {}): Logger {
  const config: LoggerOptions = {
    level: options.level ?? process.env['KILN_LOG_LEVEL'] ?? 'info',
    base: { ...options.base },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return pino(config, (options.destination ?? process.stderr) as pino.DestinationStream);
}

/** A logger that writes nothing, for library defaults and tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
