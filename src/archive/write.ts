import { closeSync, createReadStream, createWriteStream, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, deflateRawSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { ZipFile } from 'yazl';
import { KilnError } from '../core/errors.js';
import { ioReason, readError, tempSiblingPath } from '../core/fs.js';
import { checkModelName, checkModelVersion, createManifest, encodeManifest, MANIFEST_FILE, type Manifest } from './manifest.js';

/** Archive formats, as torch-model-archiver's `--archive-format` names them. */
export type ArchiveFormat = 'default' | 'zip-store' | 'tgz' | 'no-archive';

/** One file to put in an archive: its name inside, and where its bytes come from. */
export interface ArchiveEntry {
  readonly name: string;
  readonly source: { readonly path: string } | { readonly bytes: Uint8Array };
}

/** What {@link writeArchive} needs; the CLI resolves flags into this. */
export interface ArchiveSpec {
  readonly modelName: string;
  readonly modelVersion: string;
  /** Built-in handler name, or the name of the bundled handler file inside the archive. */
  readonly handler: string;
  /** Name of the ONNX model inside the archive. */
  readonly serializedFile?: string;
  readonly configFile?: string;
  /** Every file of the archive except the manifest. */
  readonly entries: readonly ArchiveEntry[];
  readonly exportPath: string;
  readonly format: ArchiveFormat;
  readonly force: boolean;
}

/** Where an archive was written. */
export interface WrittenArchive {
  readonly path: string;
  readonly manifest: Manifest;
  readonly files: readonly string[];
}

/** The output path for a model name and format (`<name>.mar`, `<name>.tar.gz`, `<name>/`). */
export function archivePath(exportPath: string, modelName: string, format: ArchiveFormat): string {
  const file = format === 'tgz' ? `${modelName}.tar.gz` : format === 'no-archive' ? modelName : `${modelName}.mar`;
  return join(exportPath, file);
}

/** Files the archiver leaves out, as TorchServe's does. */
function skipped(name: string): boolean {
  const parts = name.split('/');
  const file = parts[parts.length - 1]!;
  return file.endsWith('.pyc') || file === '.DS_Store' || file.endsWith('.mar') || parts.slice(0, -1).some((dir) => dir.startsWith('.'));
}

/**
 * Lists the entries an extra-files item contributes: a file goes to the archive root under
 * its base name; a directory contributes its contents (sub-folders kept), flattened into the root.
 */
export function extraFileEntries(path: string): ArchiveEntry[] {
  let stat;
  try {
    stat = lstatSync(path);
  } catch (error) {
    throw new KilnError('KILN_IO_NOT_FOUND', `${path}: cannot read extra file (${ioReason(error)})`, { cause: error });
  }
  if (!stat.isDirectory()) return [{ name: basename(path), source: { path } }];
  const entries: ArchiveEntry[] = [];
  const walk = (dir: string) => {
    for (const item of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = join(dir, item.name);
      if (item.isDirectory()) walk(full);
      else if (item.isFile()) entries.push({ name: relative(path, full).split(sep).join('/'), source: { path: full } });
    }
  };
  walk(path);
  return entries.filter((entry) => !skipped(entry.name));
}

/** An entry's bytes as a stream (sources are never read whole: side files can be GBs). */
interface EntrySource {
  readonly stream: Readable;
  /** Rejects with a read error naming the source file, if reading it fails. */
  readonly failed: Promise<never>;
}

function openEntry(entry: ArchiveEntry): EntrySource {
  if ('bytes' in entry.source) return { stream: Readable.from([Buffer.from(entry.source.bytes)]), failed: new Promise<never>(() => undefined) };
  const path = entry.source.path;
  const stream = createReadStream(path);
  const failed = new Promise<never>((_, reject) =>
    stream.once('error', (error) => reject(readError(path, `archive entry '${entry.name}'`, error))),
  );
  failed.catch(() => undefined); // observed through Promise.race; never an unhandled rejection
  return { stream, failed };
}

function entrySize(entry: ArchiveEntry): number {
  if ('bytes' in entry.source) return entry.source.bytes.length;
  try {
    return statSync(entry.source.path).size;
  } catch (error) {
    throw readError(entry.source.path, `archive entry '${entry.name}'`, error);
  }
}

/** Writes a model archive atomically: nothing appears at the target until it is complete. */
export async function writeArchive(spec: ArchiveSpec): Promise<WrittenArchive> {
  checkModelName(spec.modelName);
  checkModelVersion(spec.modelVersion);
  const target = archivePath(spec.exportPath, spec.modelName, spec.format);
  refuseExisting(target, spec.force);
  const manifest = createManifest({
    modelName: spec.modelName,
    modelVersion: spec.modelVersion,
    handler: spec.handler,
    ...(spec.serializedFile ? { serializedFile: spec.serializedFile } : {}),
    ...(spec.configFile ? { configFile: spec.configFile } : {}),
  });
  const entries: ArchiveEntry[] = [
    { name: MANIFEST_FILE, source: { bytes: new TextEncoder().encode(encodeManifest(manifest)) } },
    ...spec.entries,
  ];
  await packEntries(target, entries, { format: spec.format, root: spec.modelName, force: spec.force });
  return { path: target, manifest, files: entries.map((entry) => entry.name) };
}

function refuseExisting(target: string, force: boolean): void {
  if (existsSync(target) && !force) {
    throw new KilnError('KILN_ARCHIVE_EXISTS', `${target} already exists: use --force to overwrite it`, { details: { path: target } });
  }
}

/** How {@link packEntries} lays its entries out. */
export interface PackOptions {
  readonly format: ArchiveFormat;
  /** The folder every tgz entry goes under (TorchServe's `<name>/`); unused by the other formats. */
  readonly root: string;
  /** Replace an existing target. */
  readonly force: boolean;
}

/**
 * Writes `entries` (the manifest among them) to `target` atomically: every source is checked
 * readable and every name unique first, the archive is written beside the target under a temp
 * name, then renamed over it, so nothing partial is ever seen at `target`. Shared by model
 * (`.mar`) and workflow (`.war`) archives.
 */
export async function packEntries(target: string, entries: readonly ArchiveEntry[], options: PackOptions): Promise<void> {
  refuseExisting(target, options.force);
  const seen = new Set<string>();
  for (const entry of entries) {
    if (seen.has(entry.name)) {
      throw new KilnError('KILN_ARCHIVE_DUPLICATE_ENTRY', `two files would be stored as '${entry.name}' in the archive`);
    }
    seen.add(entry.name);
  }
  for (const entry of entries) entrySize(entry); // every source readable before anything is written
  mkdirSync(dirname(target), { recursive: true });
  const temp = tempSiblingPath(target);
  try {
    if (options.format === 'no-archive') await writeDirectory(temp, entries);
    else if (options.format === 'tgz') await writeTgz(temp, options.root, entries);
    else await writeZip(temp, entries, options.format === 'default');
    // A file is replaced atomically by the rename; a folder cannot be renamed over, so it goes first.
    if (options.format === 'no-archive' && existsSync(target)) rmSync(target, { recursive: true, force: true });
    renameSync(temp, target);
  } catch (error) {
    rmSync(temp, { recursive: true, force: true });
    if (error instanceof KilnError) throw error;
    throw new KilnError('KILN_IO_WRITE_FAILED', `${target}: cannot write the archive (${ioReason(error)})`, { cause: error });
  }
}

async function writeZip(path: string, entries: readonly ArchiveEntry[], compress: boolean): Promise<void> {
  const zip = new ZipFile();
  const output = pipeline(zip.outputStream, createWriteStream(path, { flags: 'wx' }));
  // yazl does not pass a source's error on to its output, so each source is watched as well.
  const failures = entries.map((entry) => {
    const source = openEntry(entry);
    zip.addReadStream(source.stream, entry.name, { compress: compress && worthDeflating(entry), size: entrySize(entry) });
    return source.failed;
  });
  zip.end();
  await Promise.race([output, ...failures]);
}

/** Entries smaller than this are always deflated: storing them saves no measurable time. */
const SMALL_ENTRY_BYTES = 64 * 1024;
/** Bytes deflated from each of three places (start, middle, end) to judge an entry. */
const SAMPLE_BYTES = 1024 * 1024;
/** An entry is stored when deflate would save less than this fraction of it. */
const MIN_DEFLATE_SAVING = 0.1;

/**
 * Whether deflating `entry` saves enough to pay for inflating it each time the archive is
 * opened. Float weights barely deflate (about 7% on MobileNetV2) yet take most of an archive's
 * opening time to inflate, so such entries are stored; judged on three 1 MiB samples so a
 * GB-sized file is not read whole.
 */
function worthDeflating(entry: ArchiveEntry): boolean {
  const size = entrySize(entry);
  if (size < SMALL_ENTRY_BYTES) return true;
  const samples: Uint8Array[] = [];
  if ('bytes' in entry.source) {
    for (const at of sampleOffsets(size)) samples.push(entry.source.bytes.subarray(at, at + SAMPLE_BYTES));
  } else {
    const fd = openSync(entry.source.path, 'r');
    try {
      for (const at of sampleOffsets(size)) {
        const sample = new Uint8Array(Math.min(SAMPLE_BYTES, size - at));
        samples.push(sample.subarray(0, readSync(fd, sample, 0, sample.length, at)));
      }
    } finally {
      closeSync(fd);
    }
  }
  const raw = samples.reduce((sum, sample) => sum + sample.length, 0);
  const deflated = samples.reduce((sum, sample) => sum + deflateRawSync(sample).length, 0);
  return deflated < raw * (1 - MIN_DEFLATE_SAVING);
}

/** Where the samples of an entry of `size` bytes start: the whole entry when it is small. */
function sampleOffsets(size: number): number[] {
  if (size <= 3 * SAMPLE_BYTES) return Array.from({ length: Math.ceil(size / SAMPLE_BYTES) }, (_, index) => index * SAMPLE_BYTES);
  return [0, Math.floor((size - SAMPLE_BYTES) / 2), size - SAMPLE_BYTES];
}

async function writeTgz(path: string, modelName: string, entries: readonly ArchiveEntry[]): Promise<void> {
  const tar = pack();
  const written = pipeline(tar, createGzip(), createWriteStream(path, { flags: 'wx' }));
  for (const entry of entries) {
    const source = openEntry(entry);
    const sink = tar.entry({ name: `${modelName}/${entry.name}`, size: entrySize(entry), mode: 0o644 });
    await Promise.race([pipeline(source.stream, sink), source.failed]);
  }
  tar.finalize();
  await written;
}

async function writeDirectory(path: string, entries: readonly ArchiveEntry[]): Promise<void> {
  mkdirSync(path, { mode: 0o755 });
  for (const entry of entries) {
    const file = join(path, ...entry.name.split('/'));
    mkdirSync(dirname(file), { recursive: true });
    const source = openEntry(entry);
    await Promise.race([pipeline(source.stream, createWriteStream(file, { flags: 'wx' })), source.failed]);
  }
}
