/** What a hostile-archive kind is, what the server must answer for it, and shared builders. */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rawZip, type RawZipEntry } from './zip-bytes.js';

/**
 * What the server must do with a kind:
 * - `refused`: registration answers a 4xx JSON error (bad archive, manifest or config);
 * - `start-fails`: registration answers a 5xx JSON error whose message carries `cause`
 *   (the first line of why the worker could not start), never a stack; with `orRefused`, a
 *   4xx carrying `cause` is right too (a check that may move from worker start to registration);
 * - `serves`: it registers; a prediction with body {@link ATTACK} gets `predict`
 *   (`error` = a 5xx JSON error), and the model's worker is `kept`, `replaced` by a new one
 *   that answers a normal request, or `either`.
 */
export type Expectation =
  | { readonly outcome: 'refused' }
  | { readonly outcome: 'start-fails'; readonly cause: RegExp; readonly orRefused?: boolean }
  | { readonly outcome: 'serves'; readonly predict: 'ok' | 'error' | 'either'; readonly worker: 'kept' | 'replaced' | 'either' };

/** What a generator wrote, and what must be true of the host afterwards. */
export interface Written {
  /** The `url` to register, relative to the model store. */
  readonly url: string;
  /** Absolute paths an unsafe extraction or a contained handler would create; must not exist. */
  readonly mustNotExist?: readonly string[];
  /** A unique string in the command line of any process the handler spawns. */
  readonly childMarker?: string;
  /** A file the handler writes outside its folder, which kiln cannot prevent (reported). */
  readonly escapeFile?: string;
}

/** Where a generator writes: the model store, and a scratch folder outside it for decoys. */
export interface WriteTarget {
  readonly store: string;
  readonly scratch: string;
}

export interface HostileKind {
  /** Unique, kebab-case; also the model name wherever the manifest is otherwise valid. */
  readonly name: string;
  readonly group: 'container' | 'manifest' | 'config' | 'model' | 'handler';
  readonly expect: Expectation;
  write(target: WriteTarget): Promise<Written> | Written;
  /**
   * `isolation`: only meaningful (or only safe) when user handlers run in their own process;
   * `bounds`: only safe once model-config.yaml values are bounded (it would start 300 workers).
   */
  readonly requires?: 'isolation' | 'bounds';
  /** Why main fails this kind today (a known defect, reported); the test runs it as a todo until fixed. */
  readonly todo?: string;
}

/** The prediction body that makes a misbehaving handler misbehave; any other body gets 'ok'. */
export const ATTACK = 'attack';

/** A short random suffix, so decoys and markers of concurrent runs never collide. */
export const unique = (): string => randomUUID().slice(0, 8);

/** A manifest as kiln writes it, with `model` fields overridden (undefined deletes one). */
export function manifest(name: string, model: Record<string, unknown> = {}, top: Record<string, unknown> = {}): string {
  const fields: Record<string, unknown> = { modelName: name, modelVersion: '1.0', handler: 'handler.cjs', ...model };
  for (const key of Object.keys(fields)) if (fields[key] === undefined) delete fields[key];
  return JSON.stringify({ createdOn: '01/01/2025 00:00:00', runtime: 'typescript', model: fields, archiverVersion: '0.1.0', ...top });
}

/** A handler that answers 'ok' to everything: the well-behaved half of a hostile archive. */
export const ECHO_HANDLER = `module.exports = {
  async initialize() {},
  async handle(requests) { return requests.map(() => 'ok'); },
};`;

/** Writes `<store>/<name>.mar` from raw entries and returns its url. */
export function writeMar(store: string, name: string, entries: readonly RawZipEntry[]): Written {
  writeFileSync(join(store, `${name}.mar`), rawZip(entries));
  return { url: `${name}.mar` };
}

/** Short worker timeouts, so hung handlers cost seconds; `extra` adds YAML lines. */
export function quickConfig(...extra: string[]): string {
  return ['responseTimeout: 3', 'startupTimeout: 10', ...extra, ''].join('\n');
}

/** A .mar with a user handler (`handler.cjs`), a quick model-config.yaml, and `extra` entries. */
export function handlerMar(store: string, name: string, source: string, config = quickConfig(), extra: readonly RawZipEntry[] = []): Written {
  return writeMar(store, name, [
    { name: 'MAR-INF/MANIFEST.json', data: manifest(name, { configFile: 'model-config.yaml' }) },
    { name: 'handler.cjs', data: source },
    { name: 'model-config.yaml', data: config },
    ...extra,
  ]);
}
