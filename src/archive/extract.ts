/**
 * Safe extraction of model archives: a .mar (zip), a TorchServe .tar.gz (every entry under
 * `<name>/`) or a plain directory. TorchServe had Zip Slip until 0.9 (CVE-2023-48299), so every
 * name, type, size and ratio is checked before the entry is written, and sizes are counted
 * while streaming because headers can lie. Files land only in a private folder, which is
 * removed again when anything fails.
 */
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, realpath, rm, stat, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import tar, { type Extract as TarExtract } from 'tar-stream';
import yauzl from 'yauzl';
import { KilnError, describeError, type ErrorCode } from '../core/errors.js';
import { ioReason } from '../core/fs.js';

/** Caps that stop a hostile archive from filling the disk. */
export interface ExtractLimits {
  /** Most bytes all files together may unpack to (declared and counted). @defaultValue 4 GiB */
  readonly maxTotalBytes: number;
  /** Most entries (files, folders, skipped ones) an archive may hold. @defaultValue 10 000 */
  readonly maxEntries: number;
  /**
   * Largest uncompressed:compressed ratio, per entry and overall; only checked past
   * {@link RATIO_FLOOR_BYTES}, since small text files legitimately compress far better.
   * @defaultValue 200
   */
  readonly maxRatio: number;
}

/** The default {@link ExtractLimits}. */
export const EXTRACT_DEFAULTS: Readonly<ExtractLimits> = Object.freeze({
  maxTotalBytes: 4 * 1024 ** 3,
  maxEntries: 10_000,
  maxRatio: 200,
});

/** Entries (and archives) smaller than this unpacked are never held to `maxRatio`. */
export const RATIO_FLOOR_BYTES = 1024 * 1024;

/** Name prefix of the temp folders {@link extractArchive} creates under `os.tmpdir()`. */
export const EXTRACT_TEMP_PREFIX = 'kiln-extract-';

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

/** One entry of a tar stream: its header and a readable of its data. */
type TarEntry = TarExtract extends AsyncIterable<infer Entry> ? Entry : never;

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const MAC_METADATA = '__MACOSX';
/** A zip local file header is at least this long, so entries closer together overlap. */
const ZIP_LOCAL_HEADER_BYTES = 30;

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
    const dir = await mkdtemp(join(tmpdir(), EXTRACT_TEMP_PREFIX)).catch((error: unknown) => {
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

/** Why an entry name could escape the folder, or undefined when it cannot. */
function unsafeReason(name: string): string | undefined {
  if (name.includes('\0')) return 'contains a NUL byte';
  if (name.includes('\\')) return 'contains a backslash';
  if (name.startsWith('/')) return 'is an absolute path';
  if (/^[A-Za-z]:/.test(name)) return 'starts with a drive letter';
  if (name.split('/').includes('..')) return 'has a ".." segment';
  return undefined;
}

/** The normalized posix path of a safe entry name (`''` for the root); throws for an unsafe one. */
function entryPath(archive: string, name: string, raw = name): string {
  const reason = unsafeReason(name);
  if (reason !== undefined) throw unsafeEntry(archive, raw, reason);
  return name
    .split('/')
    .filter((part) => part !== '' && part !== '.')
    .join('/');
}

function isMacMetadata(rel: string): boolean {
  return rel === MAC_METADATA || rel.startsWith(`${MAC_METADATA}/`);
}

/** The names seen so far: a second file of one name, or a file where a folder is, is a duplicate. */
class EntryNames {
  readonly #files = new Set<string>();
  readonly #dirs = new Set<string>();

  constructor(readonly archive: string) {}

  addFile(rel: string, name: string): void {
    if (this.#files.has(rel)) throw this.#duplicate(name, `repeats the file name ${show(rel)}`);
    if (this.#dirs.has(rel)) throw this.#duplicate(name, `is a file where ${show(rel)} is already a folder`);
    this.#addParents(rel, name);
    this.#files.add(rel);
  }

  addDir(rel: string, name: string): void {
    if (this.#files.has(rel)) throw this.#duplicate(name, `is a folder where ${show(rel)} is already a file`);
    this.#addParents(rel, name);
    this.#dirs.add(rel);
  }

  #addParents(rel: string, name: string): void {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (this.#files.has(parent)) {
        throw this.#duplicate(name, `needs a folder ${show(parent)} where there is already a file`);
      }
      this.#dirs.add(parent);
    }
  }

  #duplicate(name: string, what: string): KilnError {
    return archiveError('KILN_ARCHIVE_DUPLICATE_ENTRY', this.archive, `entry ${show(name)} ${what}`, name);
  }
}

/** Running totals against the limits, for one archive. */
class Budget {
  #entries = 0;
  #declared = 0;
  #compressed = 0;
  #written = 0;

  constructor(
    readonly archive: string,
    readonly limits: ExtractLimits,
  ) {}

  countEntry(name: string): void {
    if (++this.#entries > this.limits.maxEntries) {
      throw this.tooLarge(name, `brings the entry count past ${this.limits.maxEntries}`);
    }
  }

  /** Checks a header's sizes before any byte of the entry is written. */
  declare(name: string, size: number, compressed?: number): void {
    this.#declared += size;
    if (this.#declared > this.limits.maxTotalBytes) {
      throw this.tooLarge(name, `declares ${size} bytes, past the ${this.limits.maxTotalBytes}-byte total`);
    }
    if (compressed === undefined) return;
    this.#compressed += compressed;
    this.checkRatio(name, size, compressed, 'declares');
    this.checkRatio(name, this.#declared, this.#compressed, 'brings the archive to');
  }

  written(name: string, bytes: number): void {
    this.#written += bytes;
    if (this.#written > this.limits.maxTotalBytes) {
      throw this.tooLarge(name, `unpacks past the ${this.limits.maxTotalBytes}-byte total`);
    }
  }

  checkRatio(name: string | undefined, unpacked: number, packed: number, verb: string): void {
    if (unpacked > RATIO_FLOOR_BYTES && unpacked > packed * this.limits.maxRatio) {
      const ratio = packed > 0 ? (unpacked / packed).toFixed(1) : 'infinite';
      throw this.tooLarge(name, `${verb} a ${ratio}:1 compression ratio, past ${this.limits.maxRatio}:1 (a zip bomb?)`);
    }
  }

  /** `name` undefined: the archive as a whole (a tar stream before its first header). */
  tooLarge(name: string | undefined, what: string): KilnError {
    const subject = name === undefined ? 'the archive' : `entry ${show(name)}`;
    return archiveError('KILN_ARCHIVE_TOO_LARGE', this.archive, `${subject} ${what}`, name);
  }
}

/** What an entry's header promises; checked against the bytes that actually arrive. */
interface Expected {
  readonly size: number;
  readonly compressed?: number;
  readonly crc?: number;
}

const crc32 = typeof zlib.crc32 === 'function' ? zlib.crc32 : crc32Fallback;
let crcTable: Uint32Array | undefined;

/** zlib.crc32 arrived in Node 20.15; older 20.x use this. */
function crc32Fallback(data: Uint8Array, value = 0): number {
  crcTable ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let c = ~value;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/**
 * Streams an entry into a new file under `dir`, counting real bytes: it stops at the first
 * chunk past the declared size, the total or the ratio, and checks length and CRC at the end.
 */
async function writeEntry(
  budget: Budget,
  dir: string,
  rel: string,
  name: string,
  source: AsyncIterable<Buffer>,
  expected: Expected,
): Promise<void> {
  const target = join(dir, ...rel.split('/'));
  let handle: FileHandle;
  try {
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    // 'wx' never follows or replaces what is there (a case-insensitive disk can collide).
    handle = await open(target, 'wx', 0o600);
  } catch (error) {
    if (errorCode(error) === 'EEXIST') {
      const message = `entry ${show(name)} collides with a file already extracted`;
      throw archiveError('KILN_ARCHIVE_DUPLICATE_ENTRY', budget.archive, message, name);
    }
    throw writeFailed(target, error);
  }
  try {
    let bytes = 0;
    let crc = 0;
    for await (const chunk of source) {
      bytes += chunk.length;
      budget.written(name, chunk.length);
      if (bytes > expected.size) throw budget.tooLarge(name, `unpacks past its declared ${expected.size} bytes`);
      if (expected.compressed !== undefined) budget.checkRatio(name, bytes, expected.compressed, 'unpacks at');
      if (expected.crc !== undefined) crc = crc32(chunk, crc);
      await writeAll(handle, chunk, target);
    }
    if (bytes < expected.size) throw corrupt(budget.archive, name, `is truncated: ${bytes} of ${expected.size} bytes`);
    if (expected.crc !== undefined && crc !== expected.crc) {
      throw corrupt(budget.archive, name, 'fails its CRC-32 check');
    }
  } catch (error) {
    throw readFailure(budget.archive, name, error);
  } finally {
    await handle.close();
  }
}

async function makeDir(dir: string, rel: string): Promise<void> {
  const path = join(dir, ...rel.split('/'));
  await mkdir(path, { recursive: true, mode: 0o700 }).catch((error: unknown) => {
    throw writeFailed(path, error);
  });
}

async function writeAll(handle: FileHandle, chunk: Buffer, target: string): Promise<void> {
  try {
    let offset = 0;
    while (offset < chunk.length) offset += (await handle.write(chunk, offset, chunk.length - offset)).bytesWritten;
  } catch (error) {
    throw writeFailed(target, error);
  }
}

interface ZipItem {
  readonly entry: yauzl.Entry;
  readonly rel: string;
  readonly name: string;
}

async function extractZip(archive: string, dir: string, budget: Budget): Promise<string[]> {
  const zip = await yauzl
    // decodeStrings: false so that names are checked here, with kiln's codes, not by yauzl.
    .openPromise(archive, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: false })
    .catch((error: unknown) => {
      throw readFailure(archive, undefined, error);
    });
  try {
    if (zip.entryCount > budget.limits.maxEntries) {
      const message = `has ${zip.entryCount} entries, past the ${budget.limits.maxEntries} limit`;
      throw archiveError('KILN_ARCHIVE_TOO_LARGE', archive, message);
    }
    const { files, dirs } = planZip(archive, await readCentralDirectory(archive, zip), budget);
    for (const rel of dirs) await makeDir(dir, rel);
    for (const { entry, rel, name } of files) {
      const source: Readable = await zip.openReadStreamPromise(entry).catch((error: unknown) => {
        throw readFailure(archive, name, error);
      });
      // yauzl's destroy() leaves its inflater running, which may emit a second error later;
      // the first one reaches writeEntry through iteration, the rest are dropped here.
      source.on('error', () => {});
      const expected = { size: entry.uncompressedSize, compressed: entry.compressedSize, crc: entry.crc32 };
      await writeEntry(budget, dir, rel, name, source, expected);
    }
    return files.map((item) => item.rel);
  } finally {
    zip.close();
  }
}

function readCentralDirectory(archive: string, zip: yauzl.ZipFile): Promise<yauzl.Entry[]> {
  return new Promise((resolve, reject) => {
    const entries: yauzl.Entry[] = [];
    zip.on('entry', (entry: yauzl.Entry) => {
      entries.push(entry);
      zip.readEntry();
    });
    zip.once('end', () => resolve(entries));
    zip.on('error', (error: unknown) => reject(readFailure(archive, undefined, error)));
    zip.readEntry();
  });
}

/** Checks every central-directory entry before anything is written. */
function planZip(archive: string, entries: readonly yauzl.Entry[], budget: Budget): { files: ZipItem[]; dirs: string[] } {
  const names = new EntryNames(archive);
  const files: ZipItem[] = [];
  const dirs: string[] = [];
  for (const entry of entries) {
    // strict: keep backslashes, which yauzl would otherwise turn into separators.
    const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, true);
    budget.countEntry(name);
    const rel = entryPath(archive, name);
    const type = (entry.externalFileAttributes >>> 16) & S_IFMT;
    if (type === S_IFLNK) throw unsafeEntry(archive, name, 'is a symbolic link');
    if (type !== 0 && type !== S_IFREG && type !== S_IFDIR) {
      throw unsafeEntry(archive, name, 'is a device, FIFO or socket');
    }
    if (isMacMetadata(rel)) continue;
    if (name.endsWith('/') || type === S_IFDIR) {
      if (rel !== '') names.addDir(rel, name);
      if (rel !== '') dirs.push(rel);
      continue;
    }
    if (rel === '') throw unsafeEntry(archive, name, 'has no file name');
    if (entry.generalPurposeBitFlag & 1) throw corrupt(archive, name, 'is encrypted, which kiln does not support');
    if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
      const method = entry.compressionMethod;
      throw corrupt(archive, name, `uses compression method ${method}; only store (0) and deflate (8) are supported`);
    }
    names.addFile(rel, name);
    budget.declare(name, entry.uncompressedSize, entry.compressedSize);
    files.push({ entry, rel, name });
  }
  checkOverlaps(archive, files);
  return { files, dirs };
}

/** Entries whose data overlap are how non-recursive zip bombs reuse one deflate stream. */
function checkOverlaps(archive: string, files: readonly ZipItem[]): void {
  const byOffset = [...files].sort((a, b) => a.entry.relativeOffsetOfLocalHeader - b.entry.relativeOffsetOfLocalHeader);
  for (let i = 1; i < byOffset.length; i++) {
    const previous = byOffset[i - 1]!;
    const item = byOffset[i]!;
    const previousEnd = previous.entry.relativeOffsetOfLocalHeader + ZIP_LOCAL_HEADER_BYTES + previous.entry.compressedSize;
    if (previousEnd > item.entry.relativeOffsetOfLocalHeader) {
      throw corrupt(archive, item.name, `overlaps the data of entry ${show(previous.name)} (a zip-bomb construction)`);
    }
  }
}

/** A pass-through that reports each chunk's size to `count`, which may throw to abort. */
function tap(count: (bytes: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      try {
        count(chunk.length);
        done(null, chunk);
      } catch (error) {
        done(error as Error);
      }
    },
  });
}

async function extractTgz(archive: string, dir: string, budget: Budget): Promise<string[]> {
  const names = new EntryNames(archive);
  const files: string[] = [];
  const { maxTotalBytes, maxEntries } = budget.limits;
  // The tar stream also carries headers and padding: about 2 KiB per entry plus the trailer.
  const maxTarBytes = maxTotalBytes + maxEntries * 2048 + RATIO_FLOOR_BYTES;
  let packed = 0;
  let unpacked = 0;
  let current: string | undefined;
  const source = createReadStream(archive);
  const countIn = tap((bytes) => (packed += bytes));
  const gunzip = zlib.createGunzip();
  const countOut = tap((bytes) => {
    unpacked += bytes;
    budget.checkRatio(current, unpacked, packed, current === undefined ? 'unpacks at' : 'brings the archive to');
    if (unpacked > maxTarBytes) throw budget.tooLarge(current, `brings the tar stream past ${maxTarBytes} bytes`);
  });
  const extract = tar.extract();
  const upstream = [source, countIn, gunzip, countOut];
  // Readable.pipe does not forward errors; the first one ends the tar parser, and so the loop.
  for (const stream of upstream) stream.on('error', (error: Error) => extract.destroy(error));
  source.pipe(countIn).pipe(gunzip).pipe(countOut).pipe(extract);
  try {
    for await (const entry of extract) {
      current = entry.header.name;
      const rel = await extractTarEntry(archive, dir, budget, names, entry);
      if (rel !== undefined) files.push(rel);
    }
  } catch (error) {
    throw readFailure(archive, current, error);
  } finally {
    for (const stream of upstream) stream.destroy();
    extract.destroy();
  }
  return files;
}

/** Writes one tar entry; returns its path for a file, undefined for a folder or skipped entry. */
async function extractTarEntry(
  archive: string,
  dir: string,
  budget: Budget,
  names: EntryNames,
  entry: TarEntry,
): Promise<string | undefined> {
  const { name, type, size } = entry.header;
  budget.countEntry(name);
  const full = entryPath(archive, name);
  if (type !== 'file' && type !== 'contiguous-file' && type !== 'directory') {
    throw unsafeEntry(archive, name, `is a ${type} entry; only files and folders are extracted`);
  }
  // TorchServe's layout: drop the `<name>/` folder every entry sits in.
  const rel = entryPath(archive, full.split('/').slice(1).join('/'), name);
  if (type === 'directory' || isMacMetadata(rel)) {
    if (type === 'directory' && rel !== '') {
      names.addDir(rel, name);
      await makeDir(dir, rel);
    }
    for await (const _ of entry); // drain: the parser moves on only once the data is read
    return undefined;
  }
  if (rel === '') {
    throw corrupt(archive, name, 'is not inside a top-level folder (a tar.gz archive keeps every entry under <name>/)');
  }
  names.addFile(rel, name);
  budget.declare(name, size);
  // tar-stream emits Buffers (b4a is Buffer on Node); its streamx types say unknown.
  await writeEntry(budget, dir, rel, name, entry as AsyncIterable<Buffer>, { size });
  return rel;
}

/** Lists a directory archive in place; links may point only inside it. */
async function listDirectory(archive: string, root: string, limits: ExtractLimits): Promise<string[]> {
  const files: string[] = [];
  let count = 0;
  const walk = async (rel: string): Promise<void> => {
    const children = await readdir(join(root, rel), { withFileTypes: true }).catch((error: unknown) => {
      throw ioError(rel === '' ? archive : join(archive, rel), error);
    });
    for (const child of children) {
      const path = rel === '' ? child.name : `${rel}/${child.name}`;
      if (path === MAC_METADATA) continue;
      if (++count > limits.maxEntries) {
        const message = `entry ${show(path)} brings the entry count past ${limits.maxEntries}`;
        throw archiveError('KILN_ARCHIVE_TOO_LARGE', archive, message, path);
      }
      if (child.isDirectory()) await walk(path);
      else if (child.isFile()) files.push(path);
      else if (!child.isSymbolicLink()) throw unsafeEntry(archive, path, 'is a device, FIFO or socket');
      else if (await linkTarget(archive, root, path) === 'file') files.push(path);
    }
  };
  await walk('');
  return files;
}

/** Resolves a link inside a directory archive; one pointing outside it (or nowhere) is refused. */
async function linkTarget(archive: string, root: string, path: string): Promise<'file' | 'dir'> {
  let target: string;
  try {
    target = await realpath(join(root, path));
  } catch {
    throw unsafeEntry(archive, path, 'is a symbolic link whose target does not exist');
  }
  const inside = relative(root, target);
  if (inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
    throw unsafeEntry(archive, path, `is a symbolic link to ${target}, outside the archive folder`);
  }
  // A link to a folder inside is not followed: its files are listed under their real path.
  return (await stat(target)).isDirectory() ? 'dir' : 'file';
}

function show(name: string): string {
  return JSON.stringify(name);
}

function errorCode(error: unknown): string | undefined {
  const code = error && typeof error === 'object' && 'code' in error ? error.code : undefined;
  return typeof code === 'string' ? code : undefined;
}

function archiveError(code: ErrorCode, archive: string, message: string, entry?: string, cause?: unknown): KilnError {
  const details = entry === undefined ? { archive } : { archive, entry };
  return new KilnError(code, `${archive}: ${message}`, { cause, details });
}

function unsafeEntry(archive: string, name: string, reason: string): KilnError {
  return archiveError('KILN_ARCHIVE_UNSAFE_ENTRY', archive, `entry ${show(name)} ${reason}`, name);
}

function corrupt(archive: string, name: string, what: string): KilnError {
  return archiveError('KILN_ARCHIVE_CORRUPT', archive, `entry ${show(name)} ${what}`, name);
}

/** Wraps an error from yauzl, tar-stream, zlib or a read: system errors are I/O, the rest corruption. */
function readFailure(archive: string, name: string | undefined, error: unknown): KilnError {
  if (error instanceof KilnError) return error;
  const where = name === undefined ? '' : `entry ${show(name)}: `;
  if (error && typeof error === 'object' && 'syscall' in error) {
    return archiveError('KILN_IO_READ_FAILED', archive, `${where}cannot read (${ioReason(error)})`, name, error);
  }
  const message = `${where}not a readable archive, truncated or corrupt (${describeError(error)})`;
  return archiveError('KILN_ARCHIVE_CORRUPT', archive, message, name, error);
}

function ioError(path: string, error: unknown): KilnError {
  const code = errorCode(error) === 'ENOENT' ? 'KILN_IO_NOT_FOUND' : 'KILN_IO_READ_FAILED';
  return new KilnError(code, `${path}: ${ioReason(error)}`, { cause: error, details: { path } });
}

function writeFailed(path: string, error: unknown): KilnError {
  const message = `${path}: cannot write (${ioReason(error)})`;
  return new KilnError('KILN_IO_WRITE_FAILED', message, { cause: error, details: { path } });
}
