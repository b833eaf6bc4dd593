import { parseDocument } from 'yaml';
import { z } from 'zod';
import { KilnError } from '../core/errors.js';
import { boundedInt } from '../core/serving-limits.js';
import { YAML_SETTINGS, type YamlSettingName } from '../core/serving-settings.js';
import { parseOrThrow } from '../core/schema-errors.js';

const count = z.number().int().nonnegative();
const positive = z.number().int().positive();

/** The worker, batch, queue and timeout settings of the one table that model-config.yaml may set. */
const SETTING_KEYS = Object.fromEntries(YAML_SETTINGS.map((name) => [name, boundedInt(name)])) as {
  readonly [K in YamlSettingName]: ReturnType<typeof boundedInt>;
};

const ServerKeys = z
  .strictObject({
    // Their bounds are the ones every source shares (core/serving-settings).
    ...SETTING_KEYS,
    deviceType: z.enum(['cpu', 'gpu', 'neuron']),
    deviceIds: z.array(count),
    parallelType: z.string(),
    parallelLevel: positive,
    useJobTicket: z.boolean(),
    sequenceBatching: z.boolean(),
    sequenceMaxIdleMSec: count,
    sequenceTimeoutMSec: count,
    maxNumSequence: positive,
    maxSequenceJobQueueSize: positive,
    continuousBatching: z.boolean(),
  })
  .partial();

const SERVER_KEYS = new Set(Object.keys(ServerKeys.shape));

/** A parsed model-config.yaml: server settings, and everything else for the handler. */
export interface ModelConfig {
  readonly server: Readonly<z.infer<typeof ServerKeys>>;
  /** Keys the server does not know, passed to the handler (`context.modelYamlConfig`). */
  readonly handler: Readonly<Record<string, unknown>>;
}

function invalid(source: string, message: string, cause?: unknown): KilnError {
  return new KilnError('KILN_ARCHIVE_MODEL_CONFIG_INVALID', `${source}: ${message}`, { cause });
}

/**
 * Loads YAML text as plain data: YAML 1.2 core schema, no custom tags, no merge keys, a bounded
 * alias count (billion-laughs), so a file can never construct objects or run code. Shared by
 * model-config.yaml and workflow specs; `fail` builds the caller's error from a reason.
 */
export function loadPlainYaml(text: string, fail: (reason: string, cause: unknown) => KilnError): unknown {
  const document = parseDocument(text, { schema: 'core', merge: false, uniqueKeys: true, prettyErrors: false });
  const problem = document.errors[0] ?? document.warnings.find((warning) => warning.code === 'TAG_RESOLVE_FAILED');
  if (problem) throw fail(`not plain YAML data: ${problem.message.split('\n')[0]}`, problem);
  try {
    return document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw fail((error as Error).message, error);
  }
}

/**
 * Parses model-config.yaml as plain data (see {@link loadPlainYaml}): server keys are checked,
 * every other key goes to the handler.
 */
export function parseModelConfig(text: string, source = 'model-config.yaml'): ModelConfig {
  let data = loadPlainYaml(text, (reason, cause) => invalid(source, reason, cause));
  if (data === null || data === undefined) data = {};
  if (typeof data !== 'object' || Array.isArray(data)) throw invalid(source, 'the top level must be a mapping of keys to values');
  const entries = Object.entries(data as Record<string, unknown>);
  const server = Object.fromEntries(entries.filter(([key]) => SERVER_KEYS.has(key)));
  const handler = Object.fromEntries(entries.filter(([key]) => !SERVER_KEYS.has(key)));
  const settings = parseOrThrow(ServerKeys, server, (reason) => invalid(source, reason));
  const { minWorkers, maxWorkers } = settings;
  if (minWorkers !== undefined && maxWorkers !== undefined && minWorkers > maxWorkers) {
    throw invalid(source, `minWorkers (${minWorkers}) is greater than maxWorkers (${maxWorkers})`);
  }
  return Object.freeze({ server: Object.freeze(settings), handler: Object.freeze(handler) });
}
