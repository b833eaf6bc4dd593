/**
 * Zip, tar and directory tricks: names that climb out, links, duplicates, sizes that lie,
 * bombs, truncation, and bytes that are no archive at all. Every one must be refused (4xx)
 * before a byte lands outside the extraction folder.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

/** What tar-stream's pack.entry takes: a name and any other header fields. */
type TarHeader = Partial<tar.Header> & Pick<tar.Header, 'name'>;
import { ECHO_HANDLER, manifest, unique, writeMar, type HostileKind, type Written } from './kind.js';
import { rawZip } from './zip-bytes.js';

const refused = { outcome: 'refused' } as const;

/** The entries of a valid echo archive, to which a trick is added. */
const valid = (name: string) => [
  { name: 'MAR-INF/MANIFEST.json', data: manifest(name) },
  { name: 'handler.cjs', data: ECHO_HANDLER },
];

/** A valid archive plus one entry named `entry` (a path that must not be created). */
function withEscapingEntry(name: string, entry: (decoy: string) => string, decoyDir: (scratch: string) => string): HostileKind {
  return {
    name,
    group: 'container',
    expect: refused,
    write({ store, scratch }) {
      const decoy = join(decoyDir(scratch), `kiln-slip-${unique()}`);
      return { ...writeMar(store, name, [...valid(name), { name: entry(decoy), data: 'escaped' }]), mustNotExist: [decoy] };
    },
  };
}

/** `depth` `../` segments: enough to climb from any temp folder to the root. */
const up = (depth = 12) => '../'.repeat(depth);

async function tgz(entries: readonly { header: TarHeader; data?: string }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const { header, data } of entries) {
    if (data === undefined) pack.entry(header, '');
    else pack.entry(header, data);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return gzipSync(Buffer.concat(chunks));
}

function tgzKind(name: string, extra: (decoy: string) => TarHeader, data?: string): HostileKind {
  return {
    name,
    group: 'container',
    expect: refused,
    async write({ store, scratch }): Promise<Written> {
      const decoy = join(scratch, `kiln-tar-${unique()}`);
      const bytes = await tgz([
        { header: { name: `${name}/MAR-INF/MANIFEST.json` }, data: manifest(name) },
        { header: { name: `${name}/handler.cjs` }, data: ECHO_HANDLER },
        { header: extra(decoy), ...(data === undefined ? {} : { data }) },
      ]);
      writeFileSync(join(store, `${name}.tar.gz`), bytes);
      return { url: `${name}.tar.gz`, mustNotExist: [decoy] };
    },
  };
}

/** A directory archive in the store with `plant` adding the trick. */
function dirKind(name: string, plant: (dir: string, decoy: string) => void): HostileKind {
  return {
    name,
    group: 'container',
    expect: refused,
    write({ store, scratch }) {
      const dir = join(store, name);
      mkdirSync(join(dir, 'MAR-INF'), { recursive: true });
      writeFileSync(join(dir, 'MAR-INF/MANIFEST.json'), manifest(name));
      writeFileSync(join(dir, 'handler.cjs'), ECHO_HANDLER);
      const decoy = join(scratch, `kiln-dir-${unique()}`);
      plant(dir, decoy);
      return { url: name };
    },
  };
}

const simple = (name: string, bytes: (name: string) => Buffer, file = `${name}.mar`): HostileKind => ({
  name,
  group: 'container',
  expect: refused,
  write({ store }) {
    writeFileSync(join(store, file), bytes(name));
    return { url: file };
  },
});

export const CONTAINER_KINDS: readonly HostileKind[] = [
  withEscapingEntry('zip-dot-dot', (decoy) => `${up()}${decoy.slice(1)}`, (scratch) => scratch),
  withEscapingEntry('zip-dot-dot-inner', (decoy) => `a/b/../../${up()}${decoy.slice(1)}`, (scratch) => scratch),
  withEscapingEntry('zip-absolute', (decoy) => decoy, (scratch) => scratch),
  withEscapingEntry('zip-backslash', (decoy) => `..\\..\\..\\..\\..\\..\\..\\..${decoy.replaceAll('/', '\\')}`, (scratch) => scratch),
  withEscapingEntry('zip-drive-letter', (decoy) => `C:${decoy}`, (scratch) => scratch),
  simple('zip-nul-in-name', (name) => rawZip([...valid(name), { name: Buffer.from('ok.txt\0../../x', 'latin1'), data: 'x' }])),
  {
    // A link to a folder outside, then a file "inside" the link: the classic zip-slip via symlink.
    name: 'zip-symlink-then-write',
    group: 'container',
    expect: refused,
    write({ store, scratch }) {
      const outside = join(scratch, `kiln-link-${unique()}`);
      mkdirSync(outside);
      const written = writeMar(store, 'zip-symlink-then-write', [
        ...valid('zip-symlink-then-write'),
        { name: 'link', data: outside, mode: 0o120777 },
        { name: 'link/planted.txt', data: 'escaped' },
      ]);
      return { ...written, mustNotExist: [join(outside, 'planted.txt')] };
    },
  },
  simple('zip-symlink-to-passwd', (name) => rawZip([...valid(name), { name: 'passwd', data: '/etc/passwd', mode: 0o120777 }])),
  simple('zip-manifest-symlink', (name) => rawZip([{ name: 'MAR-INF/MANIFEST.json', data: '/etc/passwd', mode: 0o120777 }, { name: 'handler.cjs', data: ECHO_HANDLER }])),
  simple('zip-duplicate-manifest', (name) => rawZip([...valid(name), { name: 'MAR-INF/MANIFEST.json', data: manifest(name, { handler: 'other.cjs' }) }])),
  simple('zip-file-then-folder', (name) => rawZip([...valid(name), { name: 'a', data: 'file' }, { name: 'a/b', data: 'under a file' }])),
  simple('zip-device-entry', (name) => rawZip([...valid(name), { name: 'null', data: '', mode: 0o020666 }])),
  // 3 GiB declared twice: past the 4 GiB total before one byte is inflated.
  simple('zip-declared-huge', (name) => rawZip([...valid(name), { name: 'a.bin', data: 'x', declaredSize: 3 * 1024 ** 3 }, { name: 'b.bin', data: 'x', declaredSize: 3 * 1024 ** 3 }])),
  // 64 MiB of zeros deflate to ~64 KiB: a 1000:1 ratio, past the 200:1 limit.
  simple('zip-bomb-ratio', (name) => rawZip([...valid(name), { name: 'zeros.bin', data: Buffer.alloc(64 * 1024 ** 2), deflate: true }])),
  // The header says 10 bytes; 64 MiB inflate: the real count must stop it.
  simple('zip-bomb-size-lie', (name) => rawZip([...valid(name), { name: 'zeros.bin', data: Buffer.alloc(64 * 1024 ** 2), deflate: true, declaredSize: 10 }])),
  simple('zip-crc-lie', (name) => rawZip([...valid(name), { name: 'data.bin', data: 'payload', declaredCrc: 0xdeadbeef }])),
  simple('zip-truncated', (name) => {
    const whole = rawZip([...valid(name), { name: 'pad.bin', data: Buffer.alloc(4096, 7) }]);
    return whole.subarray(0, Math.floor(whole.length / 2));
  }),
  simple('zip-empty', () => rawZip([])),
  simple('zip-too-many-entries', (name) => rawZip([...valid(name), ...Array.from({ length: 10_001 }, (_, i) => ({ name: `f/${i}`, data: '' }))])),
  simple('zip-nested-mar', (name) => rawZip([{ name: 'inner.mar', data: rawZip(valid(name)) }])),
  simple('not-a-zip', () => Buffer.from('this is plain text with a .mar name\n'.repeat(50))),
  simple('zero-bytes', () => Buffer.alloc(0)),
  simple('gzip-not-tar', () => gzipSync(Buffer.alloc(4096, 'not a tar header '))),
  simple('pe-executable', () => Buffer.concat([Buffer.from('MZ\x90\x00', 'latin1'), Buffer.alloc(1024)])),
  tgzKind('tgz-dot-dot', (decoy) => ({ name: `tgz-dot-dot/${up()}${decoy.slice(1)}` }), 'escaped'),
  tgzKind('tgz-symlink-out', (decoy) => ({ name: 'tgz-symlink-out/link', type: 'symlink', linkname: decoy })),
  tgzKind('tgz-hardlink', () => ({ name: 'tgz-hardlink/passwd', type: 'link', linkname: '/etc/passwd' })),
  {
    name: 'tgz-truncated',
    group: 'container',
    expect: refused,
    async write({ store }) {
      const whole = await tgz([{ header: { name: 'tgz-truncated/MAR-INF/MANIFEST.json' }, data: manifest('tgz-truncated') }, { header: { name: 'tgz-truncated/pad' }, data: 'x'.repeat(8192) }]);
      writeFileSync(join(store, 'tgz-truncated.tar.gz'), whole.subarray(0, whole.length - 40));
      return { url: 'tgz-truncated.tar.gz' };
    },
  },
  dirKind('dir-symlink-out', (dir) => symlinkSync('/etc/passwd', join(dir, 'passwd'))),
  dirKind('dir-symlink-folder-out', (dir, decoy) => {
    mkdirSync(decoy);
    symlinkSync(decoy, join(dir, 'outside'));
  }),
  dirKind('dir-fifo', (dir) => execFileSync('mkfifo', [join(dir, 'pipe')])),
  {
    // The store entry itself is a link to a model folder outside the store.
    name: 'store-link-out',
    group: 'container',
    expect: refused,
    write({ store, scratch }) {
      const outside = join(scratch, `kiln-model-${unique()}`);
      mkdirSync(join(outside, 'MAR-INF'), { recursive: true });
      writeFileSync(join(outside, 'MAR-INF/MANIFEST.json'), manifest('store-link-out'));
      writeFileSync(join(outside, 'handler.cjs'), ECHO_HANDLER);
      symlinkSync(outside, join(store, 'store-link-out'));
      return { url: 'store-link-out' };
    },
  },
];
