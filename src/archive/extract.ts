/**
 * Safe extraction of model archives: a .mar (zip), a TorchServe .tar.gz (every entry under
 * `<name>/`) or a plain directory. TorchServe had Zip Slip until 0.9 (CVE-2023-48299), so every
 * name, type, size and ratio is checked before the entry is written, and sizes are counted
 * while streaming because headers can lie. Files land only in a private folder, which is
 * removed again when anything fails.
 */
import { mkdir, mkdtemp, open, readdir, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KilnError } from '../core/errors.js';
import { listDirectory } from './extract-directory.js';
import { Budget, archiveError, errorCode, ioError, writeFailed, type ExtractLimits } from './extract-guard.js';
import { extractTgz } from './extract-tar.js';
import { extractZip } from './extract-zip.js';

// The limits and the ratio floor are declared beside the budget that enforces them.
export { RATIO_FLOOR_BYTES, type ExtractLimits } from './extract-guard.js';

/** The default {@link ExtractLimits}. */
export const EXTRACT_DEFAULTS: Readonly<ExtractLimits> = Object.freeze({
  maxTotalBytes: 4 * 1024 ** 3,
  maxEntries: 10_000,
  maxRatio: 200,
});

/**
 * Name prefix of the temp folders {@link extractArchive} creates under `os.tmpdir()`; the
 * creating process's id follows (`kiln-extract-<pid>-XXXXXX`), so the folders of a process that
 * died without cleaning up (`kill -9`) can be told from live ones: see {@link removeOrphanedExtractions}.
 */
export const EXTRACT_TEMP_PREFIX = 'kiln-extract-';

const OWNED_EXTRACTION = new RegExp(`^${EXTRACT_TEMP_PREFIX}(\\d+)-`);

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return errorCode(error) === 'EPERM';
  }
}

/**
 * Removes the extraction folders under `dir` left by processes that no longer run (a server
 * killed with `kill -9` cannot remove its own), and returns their paths. Folders of running
 * processes, and folders without a pid in their name, are left alone.
 * @defaultValue dir: `os.tmpdir()`
 */
export async function removeOrphanedExtractions(dir = tmpdir()): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const orphans = names.filter((name) => {
    const owner = OWNED_EXTRACTION.exec(name);
    return owner !== null && Number(owner[1]) !== process.pid && !isRunning(Number(owner[1]));
  });
  await Promise.all(orphans.map((name) => rm(join(dir, name), { recursive: true, force: true }).catch(() => undefined)));
  return orphans.map((name) => join(dir, name));
}

/** Options for {@link extractArchive}. */
export interface ExtractOptions {
  /** Overrides of {@link EXTRACT_DEFAULTS}. */
  readonly limits?: Partial<ExtractLimits>;
  /**
   * Folder to unpack into instead of a fresh temp dir. It must be missing (it is then created,
   * and removed again on failure or by `remove()`) or empty (it is emptied instead).
   * Ignored for a directory archive, which is read in place.
   */
  readonly into?: string;
}

/** What an archive was read as. */
export type ExtractedFormat = 'zip' | 'tgz' | 'directory';

/** An archive on disk, ready to read. */
export interface ExtractedArchive {
  /** Real path of the folder holding the files. */
  readonly dir: string;
  readonly format: ExtractedFormat;
  /** Every regular file, as a posix path relative to `dir`, sorted. */
  readonly files: readonly string[];
  /** Deletes what was extracted; a no-op for a directory archive. */
  remove(): Promise<void>;
}

/**
 * Unpacks `path` (detected by its magic bytes, or a directory) into a private folder.
 * Rejects unsafe names, links, duplicates and anything past the limits with a KilnError
 * whose message starts with `path` and names the entry.
 * @example
 * const archive = await extractArchive('resnet.mar', { limits: { maxTotalBytes: 2 ** 30 } });
 * try { readFileSync(join(archive.dir, 'MAR-INF/MANIFEST.json')); } finally { await archive.remove(); }
 */
export async function extractArchive(path: string, options: ExtractOptions = {}): Promise<ExtractedArchive> {
  const limits = resolveLimits(options.limits);
  const format = await detectFormat(path);
  if (format === 'directory') {
    const dir = await realpath(path).catch((error: unknown) => {
      throw ioError(path, error);
    });
    const files = await listDirectory(path, dir, limits);
    return { dir, format, files: Object.freeze(files.sort()), remove: async () => {} };
  }
  const target = await prepareTarget(options.into);
  try {
    const budget = new Budget(path, limits);
    const extract = format === 'zip' ? extractZip : extractTgz;
    const files = await extract(path, target.dir, budget);
    return { dir: target.dir, format, files: Object.freeze(files.sort()), remove: target.remove };
  } catch (error) {
    await target.remove();
    throw error;
  }
}

function resolveLimits(partial: Partial<ExtractLimits> = {}): ExtractLimits {
  const limits: Record<string, number> = { ...EXTRACT_DEFAULTS };
  for (const [key, value] of Object.entries(partial)) {
    if (value === undefined) continue;
    const whole = key === 'maxEntries' ? Number.isInteger(value) : true;
    if (!(key in EXTRACT_DEFAULTS) || typeof value !== 'number' || !(value > 0) || !whole) {
      const message = `extract limit ${key}: expected a positive number, got ${String(value)}`;
      throw new KilnError('KILN_CORE_INVALID_ARGUMENT', message);
    }
    limits[key] = value;
  }
  return Object.freeze(limits as unknown as ExtractLimits);
}

async function detectFormat(path: string): Promise<ExtractedFormat> {
  const info = await stat(path).catch((error: unknown) => {
    throw ioError(path, error);
  });
  if (info.isDirectory()) return 'directory';
  if (!info.isFile()) throw archiveError('KILN_ARCHIVE_CORRUPT', path, 'is neither a file nor a directory');
  if (info.size === 0) throw archiveError('KILN_ARCHIVE_CORRUPT', path, 'is empty, not a zip, tar.gz or directory');
  const head = Buffer.alloc(4);
  try {
    const handle = await open(path, 'r');
    try {
      await handle.read(head, 0, 4, 0);
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw ioError(path, error);
  }
  // PK\3\4 starts a zip with entries, PK\5\6 an empty one; 1f 8b is gzip.
  const magic = head.readUInt32BE(0);
  if (magic === 0x504b0304 || magic === 0x504b0506) return 'zip';
  if (magic >>> 16 === 0x1f8b) return 'tgz';
  throw archiveError('KILN_ARCHIVE_CORRUPT', path, 'is not a zip (.mar), a tar.gz or a directory (unknown magic bytes)');
}

interface Target {
  readonly dir: string;
  remove(): Promise<void>;
}

async function prepareTarget(into: string | undefined): Promise<Target> {
  if (into === undefined) {
    // mkdtemp creates the folder with mode 0700: private to this user.
    const dir = await mkdtemp(join(tmpdir(), `${EXTRACT_TEMP_PREFIX}${process.pid}-`)).catch((error: unknown) => {
      throw writeFailed(tmpdir(), error);
    });
    return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
  }
  let created = true;
  try {
    await mkdir(into, { mode: 0o700 });
  } catch (error) {
    if (errorCode(error) !== 'EEXIST') throw writeFailed(into, error);
    created = false;
  }
  try {
    // A non-empty folder could hold a symlink that a later entry would write through.
    if (!created && (await readdir(into)).length > 0) {
      throw new KilnError('KILN_CORE_INVALID_ARGUMENT', `${into}: the extraction folder must be missing or empty`);
    }
    const dir = await realpath(into);
    const empty = async (): Promise<void> => {
      const names = await readdir(dir).catch(() => []);
      await Promise.all(names.map((name) => rm(join(dir, name), { recursive: true, force: true })));
    };
    return { dir, remove: created ? () => rm(dir, { recursive: true, force: true }) : empty };
  } catch (error) {
    if (created) await rm(into, { recursive: true, force: true });
    throw error instanceof KilnError ? error : ioError(into, error);
  }
}
