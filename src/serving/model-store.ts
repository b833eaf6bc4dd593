import { createWriteStream, existsSync, linkSync, realpathSync, rmSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { KilnError } from '../core/errors.js';
import { tempSiblingPath } from '../core/fs.js';

/** Where registration may take archives from. */
export interface ModelStoreConfig {
  readonly modelStore: string | undefined;
  /** Full-match patterns for remote or file:// urls; empty = only names inside the store. */
  readonly allowedUrls: readonly RegExp[];
  /** Largest archive a download may bring in. @defaultValue 4 GiB */
  readonly maxDownloadBytes?: number;
}

/** A resolved archive location, and whether kiln downloaded it (deleted again on unregister). */
export interface ResolvedArchive {
  readonly path: string;
  readonly downloaded: boolean;
}

const MAX_REDIRECTS = 5;

/** A download that has not finished in this time is abandoned (a trickling server holds nothing). */
const DOWNLOAD_TIMEOUT_MS = 10 * 60_000;

function notAllowed(url: string): KilnError {
  return new KilnError('KILN_SERVE_URL_NOT_ALLOWED', `Given URL ${url} does not match any allowed URL(s)`, { details: { url } });
}

function hasRelativePart(url: string): boolean {
  let decoded = url;
  try {
    decoded = decodeURIComponent(url);
  } catch {
    // A malformed escape is checked in its raw form only.
  }
  return [url, decoded].some((text) => text.split(/[\\/]/).includes('..'));
}

/**
 * Turns a registration `url` into a local archive path, safely: `..` is refused in raw and
 * percent-decoded form before any I/O; a plain name must resolve (after links) inside the model
 * store; `file://` and `http(s)://` urls only when an allowed_urls pattern matches the whole url,
 * and downloads re-check every redirect hop, cap the size, and land via a temp file.
 */
export async function resolveArchiveUrl(url: string, config: ModelStoreConfig): Promise<ResolvedArchive> {
  if (hasRelativePart(url)) {
    throw new KilnError('KILN_SERVE_URL_NOT_ALLOWED', `Relative path is not allowed in url: ${url}`, { details: { url } });
  }
  const store = config.modelStore;
  if (!store) throw new KilnError('KILN_SERVE_ARCHIVE_NOT_FOUND', 'Model store has not been configured.');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    if (!config.allowedUrls.some((pattern) => pattern.test(url))) throw notAllowed(url);
    if (/^file:\/\//i.test(url)) return { path: fileURLToPath(url), downloaded: false };
    return { path: await download(url, store, config), downloaded: true };
  }
  const notFound = () => new KilnError('KILN_SERVE_ARCHIVE_NOT_FOUND', `Model not found at: ${url}`, { details: { url } });
  if (isAbsolute(url)) {
    // TorchServe loads any absolute folder; kiln only ones inside the store.
    if (!existsSync(url) || !inside(store, url)) throw notFound();
    return { path: realpathSync(url), downloaded: false };
  }
  const path = join(store, url);
  if (!existsSync(path) || !inside(store, path)) throw notFound();
  return { path: realpathSync(path), downloaded: false };
}

function inside(store: string, path: string): boolean {
  const rel = relative(realpathSync(store), realpathSync(path));
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

async function download(url: string, store: string, config: ModelStoreConfig): Promise<string> {
  const name = basename(new URL(url).pathname);
  if (!name || name.includes('\\')) throw new KilnError('KILN_SERVE_BAD_REQUEST', `Cannot take a file name from url: ${url}`);
  const target = join(store, name);
  if (existsSync(target)) throw new KilnError('KILN_SERVE_WORKERS_FAILED', `Model file already exists ${name}`, { details: { url } });
  const limit = config.maxDownloadBytes ?? 4 * 1024 ** 3;
  let current = url;
  let response: Response | undefined;
  const signal = AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    response = await fetch(current, { redirect: 'manual', signal }).catch((error: unknown) => {
      throw new KilnError('KILN_SERVE_BAD_REQUEST', `Failed to download archive from: ${url}`, { cause: error });
    });
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || !location) break;
    current = new URL(location, current).href;
    // Free the redirect's socket: its body is never read.
    await response.body?.cancel().catch(() => undefined);
    if (!config.allowedUrls.some((pattern) => pattern.test(current))) throw notAllowed(current);
    response = undefined;
  }
  const refuse = async (reason = '') => {
    await response?.body?.cancel().catch(() => undefined);
    return new KilnError('KILN_SERVE_BAD_REQUEST', `Failed to download archive from: ${url}${reason}`);
  };
  if (!response?.ok || !response.body) throw await refuse();
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > limit) throw await refuse(` (over ${limit} bytes)`);
  const temp = tempSiblingPath(target);
  let received = 0;
  try {
    const body = Readable.fromWeb(response.body as never);
    body.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) body.destroy(new Error(`over ${limit} bytes`));
    });
    await pipeline(body, createWriteStream(temp, { flags: 'wx' }));
    // link() fails if the name was taken meanwhile, where rename() would overwrite it.
    linkSync(temp, target);
    rmSync(temp, { force: true });
  } catch (error) {
    rmSync(temp, { force: true });
    throw new KilnError('KILN_SERVE_BAD_REQUEST', `Failed to download archive from: ${url}`, { cause: error });
  }
  return target;
}

/** True when `path` is a regular file or folder (for load_models=all scanning). */
export function isArchiveCandidate(path: string): boolean {
  const stat = statSync(path);
  return stat.isDirectory() || /\.(mar|tar\.gz|tgz)$/i.test(path);
}
