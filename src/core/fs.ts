import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import { KilnError } from './errors.js';

/** A sibling temp path in the same directory, so the final rename stays on one filesystem. */
export function tempSiblingPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Writes a file so that readers see either the old content or the whole new one, never a
 * prefix: the bytes go to a sibling temp file, are fsynced, then renamed over `path`, and the
 * directory is fsynced so the new name survives a crash.
 * On failure the temp file is removed and a `KILN_IO_WRITE_FAILED` error is thrown.
 */
export function writeFileAtomic(path: string, chunks: Iterable<Uint8Array>, options: { mode?: number } = {}): void {
  const temp = writeTempSibling(path, chunks, options);
  commitTempFiles([[temp, path]]);
}

/**
 * Writes `chunks` to a new fsynced temp file beside `path` and returns the temp path; pair it
 * with {@link commitTempFiles}. Files that belong together (a model and its side file) are
 * written first and renamed last, so a failure midway leaves the old pair intact.
 */
export function writeTempSibling(path: string, chunks: Iterable<Uint8Array>, options: { mode?: number } = {}): string {
  const temp = tempSiblingPath(path);
  try {
    const fd = openSync(temp, 'wx', options.mode ?? 0o666);
    try {
      for (const chunk of chunks) writeFully(fd, chunk);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return temp;
  } catch (error) {
    rmSync(temp, { force: true });
    throw writeFailed(path, error);
  }
}

/**
 * Renames each temp file over its target, in order, then fsyncs each target's directory so the
 * renames themselves survive a crash; on failure removes the temps left.
 */
export function commitTempFiles(moves: readonly (readonly [temp: string, target: string])[]): void {
  let done = 0;
  try {
    for (const [temp, target] of moves) {
      renameSync(temp, target);
      done++;
    }
  } catch (error) {
    for (const [temp] of moves.slice(done)) rmSync(temp, { force: true });
    throw writeFailed(moves[done]![1], error);
  }
  for (const dir of new Set(moves.map(([, target]) => dirname(target)))) {
    try {
      fsyncDirectory(dir);
    } catch (error) {
      throw writeFailed(dir, error);
    }
  }
}

/** fsyncs a directory (its entries: a rename, a new file). Windows cannot open one, and needs not. */
export function fsyncDirectory(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeFailed(path: string, error: unknown): KilnError {
  return new KilnError('KILN_IO_WRITE_FAILED', `${path}: cannot write (${ioReason(error)})`, {
    cause: error,
    details: { path },
  });
}

/** Writes all of `bytes` at the fd's current position (writeSync may write less than asked). */
export function writeFully(fd: number, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
}

/** The short system reason of an fs error (`ENOENT`, `EACCES`…) or its message. */
export function ioReason(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'string') {
    const messages: Record<string, string> = {
      ENOENT: 'no such file or directory',
      EACCES: 'permission denied',
      EPERM: 'operation not permitted',
      EISDIR: 'is a directory',
      ENOTDIR: 'a path component is not a directory',
      EEXIST: 'a file is in the way',
      ENOSPC: 'no space left on device',
      EROFS: 'read-only file system',
    };
    return messages[error.code] ?? error.code;
  }
  return error instanceof Error ? error.message : String(error);
}

/** The error for a failed read of a user-named file: not found, or any other read failure. */
export function readError(path: string, what: string, error: unknown): KilnError {
  const missing = (error as NodeJS.ErrnoException)?.code === 'ENOENT';
  return new KilnError(missing ? 'KILN_IO_NOT_FOUND' : 'KILN_IO_READ_FAILED', `${path}: cannot read ${what} (${ioReason(error)})`, {
    cause: error,
    details: { path },
  });
}

/** Reads a user-named file, failing with `KILN_IO_NOT_FOUND` or `KILN_IO_READ_FAILED`. */
export function readFileChecked(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw readError(path, what, error);
  }
}

/** Checks that a user-named path is a readable regular file, with the same errors. */
export function checkReadableFile(path: string, what: string): void {
  let stat;
  try {
    stat = statSync(path);
  } catch (error) {
    throw readError(path, what, error);
  }
  if (!stat.isFile()) throw readError(path, what, Object.assign(new Error('EISDIR'), { code: 'EISDIR' }));
}

/**
 * Resolves `name` (a relative, `/`-separated path taken from untrusted data such as a manifest)
 * inside `root`, following links, and refuses anything that lands outside it: absolute paths,
 * `..`, drive letters, backslashes, and links pointing out. Returns undefined when refused.
 */
export function resolveInside(root: string, name: string): string | undefined {
  if (name === '' || isAbsolute(name) || name.includes('\\') || /^[a-zA-Z]:/.test(name) || name.split('/').includes('..')) return undefined;
  const base = realpathSync(root);
  const joined = join(base, name);
  let real: string;
  try {
    real = realpathSync(joined);
  } catch {
    real = joined; // not there (yet): the lexical check above already keeps it inside
  }
  const inside = relative(base, real);
  return inside === '' || inside.startsWith('..') || isAbsolute(inside) ? undefined : real;
}
