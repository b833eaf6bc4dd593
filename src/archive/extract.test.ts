import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it, test } from 'node:test';
import { deflateRawSync, gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import yazl from 'yazl';
import { KilnError, type ErrorCode } from '../core/errors.js';
import { EXTRACT_TEMP_PREFIX, extractArchive, removeOrphanedExtractions, type ExtractLimits } from './extract.js';
import { MANIFEST_FILE } from './manifest.js';

// Layout: root/in holds the archives, root/tmp is os.tmpdir() for this process (so the temp
// dirs extractArchive makes can be listed exactly), root/out/<n> are `into` targets.
const root = realpathSync(mkdtempSync(join(tmpdir(), 'kiln-extract-test-')));
const inputs = join(root, 'in');
const tmpRoot = join(root, 'tmp');
const outRoot = join(root, 'out');
const savedTmpdir = process.env['TMPDIR'];
let serial = 0;

before(() => {
  for (const dir of [inputs, tmpRoot, outRoot]) mkdirSync(dir);
  process.env['TMPDIR'] = tmpRoot;
});

after(() => {
  if (savedTmpdir === undefined) delete process.env['TMPDIR'];
  else process.env['TMPDIR'] = savedTmpdir;
  rmSync(root, { recursive: true, force: true });
});

// --- builders ---------------------------------------------------------------------------

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One entry for {@link rawZip}, which writes whatever it is told (yazl refuses bad names). */
interface RawEntry {
  readonly name: string;
  readonly content?: Buffer;
  readonly deflate?: boolean;
  /** Uncompressed size written in both headers, when it should lie. */
  readonly declaredSize?: number;
  readonly crc?: number;
  readonly method?: number;
  /** Unix mode stored in the high 16 bits of the external attributes. */
  readonly mode?: number;
  /** Point the central record at this earlier entry's local header (overlapping entries). */
  readonly sameDataAs?: number;
}

/** A minimal zip writer: local headers + data, central directory, end record. No data descriptors. */
const deflated = new WeakMap<Buffer, Buffer>();
const crcs = new WeakMap<Buffer, number>();

function rawZip(entries: readonly RawEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  const offsets: number[] = [];
  let offset = 0;
  for (const entry of entries) {
    const content = entry.content ?? Buffer.alloc(0);
    if (entry.deflate && !deflated.has(content)) deflated.set(content, deflateRawSync(content));
    if (!crcs.has(content)) crcs.set(content, crc32(content));
    const data = entry.deflate ? deflated.get(content)! : content;
    const method = entry.method ?? (entry.deflate ? 8 : 0);
    const name = Buffer.from(entry.name, 'utf8');
    const crc = entry.crc ?? crcs.get(content)!;
    const size = entry.declaredSize ?? content.length;
    if (entry.sameDataAs === undefined) {
      const local = Buffer.alloc(30);
      local.writeUInt32LE(0x04034b50, 0);
      local.writeUInt16LE(20, 4);
      local.writeUInt16LE(0x800, 6);
      local.writeUInt16LE(method, 8);
      local.writeUInt16LE(0x21, 12);
      local.writeUInt32LE(crc, 14);
      local.writeUInt32LE(data.length, 18);
      local.writeUInt32LE(size, 22);
      local.writeUInt16LE(name.length, 26);
      locals.push(local, name, data);
      offsets.push(offset);
      offset += local.length + name.length + data.length;
    } else {
      offsets.push(offsets[entry.sameDataAs]!);
    }
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((entry.mode ?? 0o100644) << 16) >>> 0, 38);
    central.writeUInt32LE(offsets.at(-1)!, 42);
    centrals.push(central, name);
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** A well-formed zip from yazl; names ending in `/` become folder entries. */
function yazlZip(files: Readonly<Record<string, string | Buffer>>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, content] of Object.entries(files)) {
    if (name.endsWith('/')) zip.addEmptyDirectory(name);
    else zip.addBuffer(Buffer.from(content), name);
  }
  zip.end();
  return collect(zip.outputStream);
}

interface TarItem {
  readonly name: string;
  readonly content?: string | Buffer;
  readonly type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo';
  readonly linkname?: string;
}

async function tgz(items: readonly TarItem[]): Promise<Buffer> {
  const pack = tar.pack();
  const done = collect(pack);
  for (const item of items) {
    const { content, ...header } = item;
    if (content === undefined) pack.entry(header);
    else pack.entry(header, Buffer.from(content));
  }
  pack.finalize();
  return gzipSync(await done);
}

async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

function input(name: string, bytes: Buffer): string {
  const path = join(inputs, `${serial++}-${name}`);
  writeFileSync(path, bytes);
  return path;
}

let zerosCache: Buffer | undefined;
/** 50 MB of zeros: deflates about 1000:1. */
const zeros = (): Buffer => (zerosCache ??= Buffer.alloc(50 * 1024 * 1024));

function findNamed(dir: string, name: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.name === name)
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name));
}

/**
 * Extracts twice, into a fresh temp dir and into a fresh `into` folder; each must fail with
 * `code`, a message starting with the archive path (and naming `entry`), and leave nothing:
 * no temp dir, no `into` folder, no stray file anywhere under the test root.
 */
async function expectRejected(path: string, code: ErrorCode, opts: { entry?: string; limits?: Partial<ExtractLimits> } = {}): Promise<void> {
  const into = join(outRoot, `target-${serial++}`);
  for (const options of [{ limits: opts.limits }, { limits: opts.limits, into }]) {
    await assert.rejects(extractArchive(path, options), (error: unknown) => {
      assert.ok(error instanceof KilnError, `not a KilnError: ${String(error)}`);
      assert.equal(error.code, code, error.message);
      assert.ok(error.message.startsWith(`${path}: `), error.message);
      if (opts.entry !== undefined) assert.ok(error.message.includes(JSON.stringify(opts.entry)), error.message);
      return true;
    });
    assert.deepEqual(readdirSync(tmpRoot), [], 'temp dir left behind');
    assert.deepEqual(readdirSync(outRoot), [], '`into` folder left behind');
    assert.deepEqual(findNamed(root, 'evil.txt'), [], 'a file escaped');
  }
}

// --- zip --------------------------------------------------------------------------------

describe('extractArchive: hostile zip', () => {
  const evil = Buffer.from('pwned');

  for (const name of ['../evil.txt', 'a/../../evil.txt', '..\\evil.txt', 'C:\\evil.txt', 'C:/evil.txt', 'a\\b\\evil.txt', 'evil\0.txt']) {
    it(`rejects ${JSON.stringify(name)} as unsafe`, async () => {
      const path = input('slip.mar', rawZip([{ name: 'ok.txt', content: Buffer.from('fine') }, { name, content: evil }]));
      await expectRejected(path, 'KILN_ARCHIVE_UNSAFE_ENTRY', { entry: name });
    });
  }

  it('rejects an absolute name and writes nothing there', async () => {
    const name = `${tmpdir()}/../evil-${process.pid}.txt`;
    const absolute = `/tmp/kiln-evil-${process.pid}-${Date.now()}.txt`;
    for (const bad of [name, absolute]) {
      await expectRejected(input('abs.mar', rawZip([{ name: bad, content: evil }])), 'KILN_ARCHIVE_UNSAFE_ENTRY', { entry: bad });
    }
    assert.equal(existsSync(absolute), false);
  });

  it('rejects a symlink entry (S_IFLNK in the external attributes)', async () => {
    const path = input('link.mar', rawZip([{ name: 'link', content: Buffer.from('/etc/passwd'), mode: 0o120777 }, { name: 'link/evil.txt', content: evil }]));
    await expectRejected(path, 'KILN_ARCHIVE_UNSAFE_ENTRY', { entry: 'link' });
  });

  it('rejects device entries', async () => {
    const path = input('fifo.mar', rawZip([{ name: 'pipe', mode: 0o010644 }]));
    await expectRejected(path, 'KILN_ARCHIVE_UNSAFE_ENTRY', { entry: 'pipe' });
  });

  it('rejects duplicate names, also after normalization and file-vs-folder clashes', async () => {
    const cases: [string, string][] = [
      ['a.txt', 'a.txt'],
      ['a.txt', './a.txt'],
      ['dir/a.txt', 'dir//a.txt'],
      ['a', 'a/b.txt'],
      ['a/b.txt', 'a'],
    ];
    for (const [first, second] of cases) {
      const path = input('dup.mar', rawZip([{ name: first, content: evil }, { name: second, content: evil }]));
      await expectRejected(path, 'KILN_ARCHIVE_DUPLICATE_ENTRY', { entry: second });
    }
    // Case-sensitive: these are two different files.
    const ok = await extractArchive(input('case.mar', rawZip([{ name: 'A.txt', content: evil }, { name: 'a.txt', content: evil }])));
    assert.deepEqual(ok.files, ['A.txt', 'a.txt']);
    await ok.remove();
  });

  it('rejects a bomb by its declared ratio and by its declared size before writing', async () => {
    const path = input('bomb.mar', rawZip([{ name: 'zeros.bin', content: zeros(), deflate: true }]));
    await expectRejected(path, 'KILN_ARCHIVE_TOO_LARGE', { entry: 'zeros.bin' });
    await expectRejected(path, 'KILN_ARCHIVE_TOO_LARGE', { entry: 'zeros.bin', limits: { maxTotalBytes: 10e6, maxRatio: 1e9 } });
  });

  it('stops a bomb whose headers lie about its size while streaming', async () => {
    const packed = rawZip([{ name: 'x', content: zeros(), deflate: true }]).length;
    const path = input('liar.mar', rawZip([
      { name: 'first.txt', content: Buffer.from('written before the bomb') },
      { name: 'zeros.bin', content: zeros(), deflate: true, declaredSize: packed },
    ]));
    const started = Date.now();
    await expectRejected(path, 'KILN_ARCHIVE_TOO_LARGE', { entry: 'zeros.bin' });
    await expectRejected(path, 'KILN_ARCHIVE_TOO_LARGE', { entry: 'zeros.bin', limits: { maxRatio: 1e9 } });
    assert.ok(Date.now() - started < 2000, 'the stream was not cut short');
  });

  it('counts real bytes against maxTotalBytes across entries', async () => {
    const mb = Buffer.alloc(600_000, 7);
    const path = input('many.mar', rawZip([
      { name: 'a.bin', content: mb },
      { name: 'b.bin', content: mb, deflate: true, declaredSize: 10 },
    ]));
    await expectRejected(path, 'KILN_ARCHIVE_TOO_LARGE', { entry: 'b.bin', limits: { maxTotalBytes: 1_000_000 } });
  });

  it('rejects more entries than maxEntries', async () => {
    const path = input('count.mar', rawZip(['a', 'b', 'c', 'd', 'e'].map((name) => ({ name, content: evil }))));
    await expectRejected(path, 'KILN_ARCHIVE_TOO_LARGE', { limits: { maxEntries: 3 } });
  });

  it('rejects entries that share data (overlapping local headers)', async () => {
    const path = input('overlap.mar', rawZip([{ name: 'a.bin', content: evil }, { name: 'b.bin', sameDataAs: 0, content: evil }]));
    await expectRejected(path, 'KILN_ARCHIVE_CORRUPT', { entry: 'b.bin' });
  });

  it('rejects a CRC mismatch or a broken deflate stream after earlier entries were written', async () => {
    const crc = input('crc.mar', rawZip([{ name: 'ok.txt', content: evil }, { name: 'bad.txt', content: evil, crc: 1234 }]));
    await expectRejected(crc, 'KILN_ARCHIVE_CORRUPT', { entry: 'bad.txt' });
    // 0xff opens a deflate block of the reserved type 3.
    const broken = rawZip([{ name: 'ok.txt', content: evil }, { name: 'bad.bin', content: Buffer.alloc(64, 0xff), method: 8 }]);
    await expectRejected(input('inflate.mar', broken), 'KILN_ARCHIVE_CORRUPT', { entry: 'bad.bin' });
  });

  it('rejects unsupported compression methods', async () => {
    const path = input('bzip.mar', rawZip([{ name: 'x.bin', content: evil, method: 12 }]));
    await expectRejected(path, 'KILN_ARCHIVE_CORRUPT', { entry: 'x.bin' });
  });

  it('rejects a truncated zip, random bytes, a fake PK header and an empty file as corrupt', async () => {
    const good = await yazlZip({ [MANIFEST_FILE]: '{}', 'model.onnx': Buffer.alloc(4096, 1) });
    await expectRejected(input('half.mar', good.subarray(0, good.length >> 1)), 'KILN_ARCHIVE_CORRUPT');
    await expectRejected(input('noise.mar', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 0xff))), 'KILN_ARCHIVE_CORRUPT');
    await expectRejected(input('fake.mar', Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(100, 9)])), 'KILN_ARCHIVE_CORRUPT');
    await expectRejected(input('empty.mar', Buffer.alloc(0)), 'KILN_ARCHIVE_CORRUPT');
  });

  it('reports a missing path as KILN_IO_NOT_FOUND', async () => {
    await expectRejected(join(inputs, 'nope.mar'), 'KILN_IO_NOT_FOUND');
  });
});

describe('extractArchive: zip', () => {
  const files = {
    [MANIFEST_FILE]: JSON.stringify({ runtime: 'typescript', model: { modelName: 'm', modelVersion: '1.0', handler: 'h.js' } }),
    'model.onnx': Buffer.from([8, 7, 18, 4, 107, 105, 108, 110]),
    'extra/': '',
    'extra/labels.txt': 'cat\ndog\n',
    'extra/deep/config.json': '{"a":1}',
    '__MACOSX/._model.onnx': 'resource fork',
  };
  const expected = ['MAR-INF/MANIFEST.json', 'extra/deep/config.json', 'extra/labels.txt', 'model.onnx'];

  it('extracts a .mar into a private temp dir and removes it', async () => {
    const archive = await extractArchive(input('good.mar', await yazlZip(files)));
    assert.equal(archive.format, 'zip');
    assert.deepEqual(archive.files, expected);
    assert.ok(archive.dir.startsWith(join(tmpRoot, EXTRACT_TEMP_PREFIX)));
    assert.equal(statSync(archive.dir).mode & 0o777, 0o700);
    for (const file of expected) assert.deepEqual(readFileSync(join(archive.dir, file)), Buffer.from(files[file as keyof typeof files]));
    assert.equal(existsSync(join(archive.dir, '__MACOSX')), false);
    assert.equal(statSync(join(archive.dir, 'model.onnx')).mode & 0o111, 0);
    await archive.remove();
    await archive.remove();
    assert.deepEqual(readdirSync(tmpRoot), []);
  });

  it('extracts into a given folder, created or empty', async () => {
    const bytes = await yazlZip(files);
    const fresh = join(outRoot, 'fresh');
    const archive = await extractArchive(input('into.mar', bytes), { into: fresh });
    assert.equal(archive.dir, fresh);
    assert.deepEqual(archive.files, expected);
    await archive.remove();
    assert.equal(existsSync(fresh), false);

    mkdirSync(fresh);
    const again = await extractArchive(input('into.mar', bytes), { into: fresh });
    await again.remove();
    assert.deepEqual(readdirSync(fresh), []);
    writeFileSync(join(fresh, 'x'), '');
    await assert.rejects(extractArchive(input('into.mar', bytes), { into: fresh }), { code: 'KILN_CORE_INVALID_ARGUMENT' });
    rmSync(fresh, { recursive: true });
  });

  it('does not hold small entries to the ratio limit', async () => {
    const archive = await extractArchive(input('small.mar', rawZip([{ name: 'pad.bin', content: Buffer.alloc(900_000), deflate: true }])));
    assert.deepEqual(archive.files, ['pad.bin']);
    await archive.remove();
  });

  it('validates limits', async () => {
    const path = input('good.mar', await yazlZip(files));
    for (const limits of [{ maxEntries: 0 }, { maxRatio: -1 }, { maxTotalBytes: Number.NaN }, { maxEntries: 1.5 }]) {
      await assert.rejects(extractArchive(path, { limits }), { code: 'KILN_CORE_INVALID_ARGUMENT' });
    }
  });
});

// --- tar.gz -----------------------------------------------------------------------------

describe('extractArchive: tar.gz', () => {
  it('extracts a TorchServe tgz, dropping the <name>/ folder', async () => {
    const bytes = await tgz([
      { name: 'resnet/', type: 'directory' },
      { name: 'resnet/MAR-INF/MANIFEST.json', content: '{"runtime":"typescript"}' },
      { name: 'resnet/model.onnx', content: Buffer.alloc(3000, 5) },
      { name: 'resnet/extra/deep/a.txt', content: 'a' },
      { name: 'resnet/__MACOSX/._x', content: 'junk' },
    ]);
    const archive = await extractArchive(input('resnet.tar.gz', bytes));
    assert.equal(archive.format, 'tgz');
    assert.deepEqual(archive.files, ['MAR-INF/MANIFEST.json', 'extra/deep/a.txt', 'model.onnx']);
    assert.deepEqual(readFileSync(join(archive.dir, 'model.onnx')), Buffer.alloc(3000, 5));
    assert.equal(readFileSync(join(archive.dir, 'extra/deep/a.txt'), 'utf8'), 'a');
    await archive.remove();
    assert.deepEqual(readdirSync(tmpRoot), []);
  });

  it('rejects unsafe names, links and special files', async () => {
    const cases: [TarItem, ErrorCode][] = [
      [{ name: 'm/../evil.txt', content: 'x' }, 'KILN_ARCHIVE_UNSAFE_ENTRY'],
      [{ name: 'm/a/../../../evil.txt', content: 'x' }, 'KILN_ARCHIVE_UNSAFE_ENTRY'],
      [{ name: '/m/evil.txt', content: 'x' }, 'KILN_ARCHIVE_UNSAFE_ENTRY'],
      [{ name: 'm/..\\evil.txt', content: 'x' }, 'KILN_ARCHIVE_UNSAFE_ENTRY'],
      [{ name: 'm/C:/evil.txt', content: 'x' }, 'KILN_ARCHIVE_UNSAFE_ENTRY'],
      [{ name: 'm/link', type: 'symlink', linkname: '/etc/passwd' }, 'KILN_ARCHIVE_UNSAFE_ENTRY'],
      [{ name: 'm/hard', type: 'link', linkname: 'm/model.onnx' }, 'KILN_ARCHIVE_UNSAFE_ENTRY'],
      [{ name: 'm/pipe', type: 'fifo' }, 'KILN_ARCHIVE_UNSAFE_ENTRY'],
      [{ name: 'm/model.onnx', content: 'again' }, 'KILN_ARCHIVE_DUPLICATE_ENTRY'],
      [{ name: 'evil.txt', content: 'x' }, 'KILN_ARCHIVE_CORRUPT'],
    ];
    for (const [item, code] of cases) {
      const bytes = await tgz([{ name: 'm/model.onnx', content: 'onnx' }, item, { name: 'm/after.txt', content: 'x' }]);
      await expectRejected(input('bad.tar.gz', bytes), code, { entry: item.name });
    }
  });

  it('rejects a bomb by ratio while streaming and by declared size', async () => {
    const path = input('bomb.tar.gz', await tgz([{ name: 'm/zeros.bin', content: zeros() }]));
    await expectRejected(path, 'KILN_ARCHIVE_TOO_LARGE');
    await expectRejected(path, 'KILN_ARCHIVE_TOO_LARGE', { entry: 'm/zeros.bin', limits: { maxTotalBytes: 10e6, maxRatio: 1e9 } });
  });

  it('rejects more entries than maxEntries', async () => {
    const path = input('count.tar.gz', await tgz(['a', 'b', 'c', 'd'].map((name) => ({ name: `m/${name}`, content: name }))));
    await expectRejected(path, 'KILN_ARCHIVE_TOO_LARGE', { limits: { maxEntries: 2 } });
  });

  it('rejects a truncated tgz and a gzip that holds no tar as corrupt', async () => {
    const bytes = await tgz([{ name: 'm/a.bin', content: Buffer.alloc(100_000, 3) }, { name: 'm/b.txt', content: 'b' }]);
    await expectRejected(input('cut.tar.gz', bytes.subarray(0, bytes.length - 40)), 'KILN_ARCHIVE_CORRUPT');
    await expectRejected(input('text.tar.gz', gzipSync(Buffer.alloc(2048, 'not a tar header '))), 'KILN_ARCHIVE_CORRUPT');
  });
});

// --- directory --------------------------------------------------------------------------

describe('extractArchive: directory', () => {
  it('reads a directory in place; remove() leaves it alone', async () => {
    const dir = join(inputs, 'model-dir');
    mkdirSync(join(dir, 'MAR-INF'), { recursive: true });
    mkdirSync(join(dir, 'extra', 'deep'), { recursive: true });
    writeFileSync(join(dir, MANIFEST_FILE), '{}');
    writeFileSync(join(dir, 'model.onnx'), 'onnx');
    writeFileSync(join(dir, 'extra', 'deep', 'a.txt'), 'a');
    symlinkSync('model.onnx', join(dir, 'alias.onnx'));
    const archive = await extractArchive(dir);
    assert.equal(archive.format, 'directory');
    assert.equal(archive.dir, realpathSync(dir));
    assert.deepEqual(archive.files, ['MAR-INF/MANIFEST.json', 'alias.onnx', 'extra/deep/a.txt', 'model.onnx']);
    await archive.remove();
    assert.ok(existsSync(join(dir, 'model.onnx')));
    assert.deepEqual(readdirSync(tmpRoot), []);
  });

  it('rejects a symlink that points outside it', async () => {
    const dir = join(inputs, 'linked-dir');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'model.onnx'), 'onnx');
    symlinkSync('../../../tmp', join(dir, 'sub', 'escape'));
    await expectRejected(dir, 'KILN_ARCHIVE_UNSAFE_ENTRY', { entry: 'sub/escape' });
    rmSync(join(dir, 'sub', 'escape'));
    symlinkSync('/etc/passwd', join(dir, 'passwd'));
    await expectRejected(dir, 'KILN_ARCHIVE_UNSAFE_ENTRY', { entry: 'passwd' });
  });
});

test('removeOrphanedExtractions removes the folders of processes that no longer run, and only those', async () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'kiln-orphans-')));
  try {
    const gone = spawnSync(process.execPath, ['-e', '']).pid!;
    for (const name of [`${EXTRACT_TEMP_PREFIX}${gone}-abc`, `${EXTRACT_TEMP_PREFIX}${process.pid}-def`, `${EXTRACT_TEMP_PREFIX}${process.ppid}-ghi`, `${EXTRACT_TEMP_PREFIX}xyz`, 'other-123-x']) {
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, 'f'), 'x');
    }
    assert.deepEqual(await removeOrphanedExtractions(dir), [join(dir, `${EXTRACT_TEMP_PREFIX}${gone}-abc`)]);
    assert.deepEqual(readdirSync(dir).sort(), [`${EXTRACT_TEMP_PREFIX}${process.pid}-def`, `${EXTRACT_TEMP_PREFIX}${process.ppid}-ghi`, `${EXTRACT_TEMP_PREFIX}xyz`, 'other-123-x'].sort());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
