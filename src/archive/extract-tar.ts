/** The TorchServe .tar.gz path of extractArchive: gunzip and tar-stream, counted as they stream. */
import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import tar, { type Extract as TarExtract } from 'tar-stream';
import {
  EntryNames,
  RATIO_FLOOR_BYTES,
  corrupt,
  entryPath,
  isMacMetadata,
  makeDir,
  readFailure,
  unsafeEntry,
  writeEntry,
  type Budget,
} from './extract-guard.js';

/** One entry of a tar stream: its header and a readable of its data. */
type TarEntry = TarExtract extends AsyncIterable<infer Entry> ? Entry : never;

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

export async function extractTgz(archive: string, dir: string, budget: Budget): Promise<string[]> {
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
