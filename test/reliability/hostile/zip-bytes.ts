/**
 * A zip writer that lies on request: names, sizes, CRCs, file types and duplicates are written
 * exactly as given, which real archivers (yazl included) refuse to do. Only for building
 * hostile archives in tests.
 */
import { crc32, deflateRawSync } from 'node:zlib';

/** One entry as it will appear in the local header and the central directory. */
export interface RawZipEntry {
  readonly name: string | Buffer;
  readonly data?: Buffer | string;
  /** Deflate the data (method 8) instead of storing it. @defaultValue false */
  readonly deflate?: boolean;
  /** Uncompressed size written in the headers; defaults to the real one. */
  readonly declaredSize?: number;
  /** CRC-32 written in the headers; defaults to the real one. */
  readonly declaredCrc?: number;
  /** Unix mode (type bits included) for the external attributes, e.g. 0o120777 for a symlink. */
  readonly mode?: number;
}

const LOCAL = 0x04034b50;
const CENTRAL = 0x02014b50;
const END = 0x06054b50;

/** The bytes of a zip holding `entries` in order, with an end-of-central-directory record. */
export function rawZip(entries: readonly RawZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = typeof entry.name === 'string' ? Buffer.from(entry.name, 'utf8') : entry.name;
    const plain = typeof entry.data === 'string' ? Buffer.from(entry.data, 'utf8') : (entry.data ?? Buffer.alloc(0));
    const body = entry.deflate ? deflateRawSync(plain) : plain;
    const crc = entry.declaredCrc ?? crc32(plain);
    const size = entry.declaredSize ?? plain.length;
    const method = entry.deflate ? 8 : 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(LOCAL, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, body);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(CENTRAL, 0);
    // "Made by" Unix (3), so that readers honour the mode in the external attributes.
    central.writeUInt16LE((3 << 8) | 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc >>> 0, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((entry.mode ?? 0o100644) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(END, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}
