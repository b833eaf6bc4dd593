/**
 * The checks and the writer every extraction path shares: entry names that cannot escape the
 * folder, duplicates, the byte/entry/ratio budget, and a writer that counts the real bytes
 * (headers can lie) and never follows or replaces what is already on disk. Also the
 * KilnError builders, so that every path words its errors the same way.
 */
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as zlib from 'node:zlib';
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

/** Entries (and archives) smaller than this unpacked are never held to `maxRatio`. */
export const RATIO_FLOOR_BYTES = 1024 * 1024;

/** The folder macOS's Archive Utility adds for resource forks; skipped, never extracted or listed. */
export const MAC_METADATA = '__MACOSX';

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
export function entryPath(archive: string, name: string, raw = name): string {
  const reason = unsafeReason(name);
  if (reason !== undefined) throw unsafeEntry(archive, raw, reason);
  return name
    .split('/')
    .filter((part) => part !== '' && part !== '.')
    .join('/');
}

export function isMacMetadata(rel: string): boolean {
  return rel === MAC_METADATA || rel.startsWith(`${MAC_METADATA}/`);
}

/** The names seen so far: a second file of one name, or a file where a folder is, is a duplicate. */
export class EntryNames {
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
export class Budget {
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
export interface Expected {
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
export async function writeEntry(
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
    // Chunks (16-64 KiB) are written in batches: one write per chunk of a large model costs
    // hundreds of round trips to the thread pool for nothing.
    let batch: Buffer[] = [];
    let batched = 0;
    for await (const chunk of source) {
      bytes += chunk.length;
      budget.written(name, chunk.length);
      if (bytes > expected.size) throw budget.tooLarge(name, `unpacks past its declared ${expected.size} bytes`);
      if (expected.compressed !== undefined) budget.checkRatio(name, bytes, expected.compressed, 'unpacks at');
      if (expected.crc !== undefined) crc = crc32(chunk, crc);
      batch.push(chunk);
      batched += chunk.length;
      if (batched >= WRITE_BATCH_BYTES) {
        await writeAll(handle, Buffer.concat(batch, batched), target);
        batch = [];
        batched = 0;
      }
    }
    if (batched > 0) await writeAll(handle, Buffer.concat(batch, batched), target);
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

export async function makeDir(dir: string, rel: string): Promise<void> {
  const path = join(dir, ...rel.split('/'));
  await mkdir(path, { recursive: true, mode: 0o700 }).catch((error: unknown) => {
    throw writeFailed(path, error);
  });
}

/** How many extracted bytes are gathered before they are written. */
const WRITE_BATCH_BYTES = 4 * 1024 * 1024;

async function writeAll(handle: FileHandle, chunk: Buffer, target: string): Promise<void> {
  try {
    let offset = 0;
    while (offset < chunk.length) offset += (await handle.write(chunk, offset, chunk.length - offset)).bytesWritten;
  } catch (error) {
    throw writeFailed(target, error);
  }
}

export function show(name: string): string {
  return JSON.stringify(name);
}

export function errorCode(error: unknown): string | undefined {
  const code = error && typeof error === 'object' && 'code' in error ? error.code : undefined;
  return typeof code === 'string' ? code : undefined;
}

export function archiveError(code: ErrorCode, archive: string, message: string, entry?: string, cause?: unknown): KilnError {
  const details = entry === undefined ? { archive } : { archive, entry };
  return new KilnError(code, `${archive}: ${message}`, { cause, details });
}

export function unsafeEntry(archive: string, name: string, reason: string): KilnError {
  return archiveError('KILN_ARCHIVE_UNSAFE_ENTRY', archive, `entry ${show(name)} ${reason}`, name);
}

export function corrupt(archive: string, name: string, what: string): KilnError {
  return archiveError('KILN_ARCHIVE_CORRUPT', archive, `entry ${show(name)} ${what}`, name);
}

/** Wraps an error from yauzl, tar-stream, zlib or a read: system errors are I/O, the rest corruption. */
export function readFailure(archive: string, name: string | undefined, error: unknown): KilnError {
  if (error instanceof KilnError) return error;
  const where = name === undefined ? '' : `entry ${show(name)}: `;
  if (error && typeof error === 'object' && 'syscall' in error) {
    return archiveError('KILN_IO_READ_FAILED', archive, `${where}cannot read (${ioReason(error)})`, name, error);
  }
  const message = `${where}not a readable archive, truncated or corrupt (${describeError(error)})`;
  return archiveError('KILN_ARCHIVE_CORRUPT', archive, message, name, error);
}

export function ioError(path: string, error: unknown): KilnError {
  const code = errorCode(error) === 'ENOENT' ? 'KILN_IO_NOT_FOUND' : 'KILN_IO_READ_FAILED';
  return new KilnError(code, `${path}: ${ioReason(error)}`, { cause: error, details: { path } });
}

export function writeFailed(path: string, error: unknown): KilnError {
  const message = `${path}: cannot write (${ioReason(error)})`;
  return new KilnError('KILN_IO_WRITE_FAILED', message, { cause: error, details: { path } });
}
