/** The .mar (zip) path of extractArchive: every central-directory entry is checked, then written. */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { createInflateRaw } from 'node:zlib';
import yauzl from 'yauzl';
import {
  EntryNames,
  archiveError,
  corrupt,
  entryPath,
  isMacMetadata,
  makeDir,
  readFailure,
  show,
  unsafeEntry,
  writeEntry,
  type Budget,
} from './extract-guard.js';

/** Unix file-type bits, which a zip keeps in the high 16 bits of an entry's external attributes. */
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
/** A zip local file header is at least this long, so entries closer together overlap. */
const ZIP_LOCAL_HEADER_BYTES = 30;

interface ZipItem {
  readonly entry: yauzl.Entry;
  readonly rel: string;
  readonly name: string;
}

export async function extractZip(archive: string, dir: string, budget: Budget): Promise<string[]> {
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
      const source = await openEntryData(archive, zip, entry).catch((error: unknown) => {
        throw readFailure(archive, name, error);
      });
      // A second error after the first (reader and inflater both failing) is dropped here;
      // the first one reaches writeEntry through iteration.
      source.on('error', () => {});
      const expected = { size: entry.uncompressedSize, compressed: entry.compressedSize, crc: entry.crc32 };
      await writeEntry(budget, dir, rel, name, source, expected);
    }
    return files.map((item) => item.rel);
  } finally {
    zip.close();
  }
}

/** Bytes per read of an entry's data and per inflated chunk (yauzl's streams move 16 KiB at a time). */
const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * An entry's data, inflated when deflated. Read straight from the file in large chunks rather
 * than through yauzl's stream: a model of tens of MiB otherwise costs about a thousand small
 * reads, most of an archive's opening time when its weights are stored (see write.ts).
 */
async function openEntryData(archive: string, zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  const { fileDataStart } = await new Promise<{ fileDataStart: number }>((resolve, reject) =>
    zip.readLocalFileHeader(entry, { minimal: true }, (error, header) => (error ? reject(error) : resolve(header))),
  );
  if (entry.compressedSize === 0) return entry.compressionMethod === 0 ? Readable.from([]) : Readable.from([]).pipe(createInflateRaw());
  const raw = createReadStream(archive, { start: fileDataStart, end: fileDataStart + entry.compressedSize - 1, highWaterMark: READ_CHUNK_BYTES });
  if (entry.compressionMethod === 0) return raw;
  const inflate = createInflateRaw({ chunkSize: READ_CHUNK_BYTES });
  raw.once('error', (error) => inflate.destroy(error));
  inflate.once('close', () => raw.destroy());
  return raw.pipe(inflate);
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
