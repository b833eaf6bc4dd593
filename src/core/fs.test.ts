import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { KilnError, type ErrorCode } from './errors.js';
import { commitTempFiles, ioReason, tempSiblingPath, writeFileAtomic, writeTempSibling } from './fs.js';

const root = mkdtempSync(join(tmpdir(), 'kiln-fs-'));
after(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
/** A fresh empty directory per test, so directory listings say exactly what a call left behind. */
function freshDir(): string {
  const dir = join(root, `case-${counter++}`);
  mkdirSync(dir);
  return dir;
}

const text = (value: string) => new TextEncoder().encode(value);

function throwsWith(code: ErrorCode, ...patterns: RegExp[]): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof KilnError, `expected a KilnError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const pattern of patterns) assert.match(error.message, pattern);
    assert.notEqual(error.cause, undefined, 'the fs error is kept as cause');
    return true;
  };
}

const escape = (path: string) => path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('tempSiblingPath', () => {
  it('names a hidden .tmp file in the same directory, different each call', () => {
    const target = join(root, 'model.onnx');
    const first = tempSiblingPath(target);
    assert.equal(dirname(first), root);
    assert.match(basename(first), /^\.model\.onnx\.[0-9a-f]{12}\.tmp$/);
    assert.notEqual(tempSiblingPath(target), first);
  });
});

describe('writeFileAtomic', () => {
  it('writes all chunks, in order, and leaves only the target', () => {
    const dir = freshDir();
    const path = join(dir, 'out.bin');
    writeFileAtomic(path, [text('hello, '), new Uint8Array(0), text('kiln')]);
    assert.equal(readFileSync(path, 'utf8'), 'hello, kiln');
    assert.deepEqual(readdirSync(dir), ['out.bin']);
  });

  it('accepts any iterable of chunks, including a generator and a large chunk', () => {
    const dir = freshDir();
    const path = join(dir, 'big.bin');
    const big = new Uint8Array(3 << 20);
    for (let index = 0; index < big.length; index++) big[index] = index % 251;
    writeFileAtomic(
      path,
      (function* () {
        yield big.subarray(0, 1000);
        yield big.subarray(1000);
      })(),
    );
    assert.deepEqual(new Uint8Array(readFileSync(path)), big);
  });

  it('replaces an existing file by rename: an open reader keeps the old content', () => {
    const dir = freshDir();
    const path = join(dir, 'model.onnx');
    writeFileSync(path, 'old content');
    const fd = openSync(path, 'r');
    try {
      writeFileAtomic(path, [text('new')]);
      assert.equal(readFileSync(path, 'utf8'), 'new');
      // A write in place (truncate + write) would show through this descriptor; a rename does not.
      const buffer = Buffer.alloc(64);
      const read = readSync(fd, buffer, 0, buffer.length, 0);
      assert.equal(buffer.subarray(0, read).toString('utf8'), 'old content');
    } finally {
      closeSync(fd);
    }
    assert.deepEqual(readdirSync(dir), ['model.onnx']);
  });

  it('throws KILN_IO_WRITE_FAILED when the directory is missing, leaving nothing', () => {
    const dir = freshDir();
    const path = join(dir, 'missing', 'out.bin');
    assert.throws(
      () => writeFileAtomic(path, [text('x')]),
      throwsWith('KILN_IO_WRITE_FAILED', new RegExp(`^${escape(path)}: cannot write`), /no such file or directory/),
    );
    assert.deepEqual(readdirSync(dir), []);
  });

  it('throws KILN_IO_WRITE_FAILED when the target is a directory, removing its temp file', () => {
    const dir = freshDir();
    const path = join(dir, 'target');
    mkdirSync(path);
    assert.throws(() => writeFileAtomic(path, [text('x')]), (error) => {
      throwsWith('KILN_IO_WRITE_FAILED', new RegExp(`^${escape(path)}: `))(error);
      assert.equal((error as KilnError).details['path'], path);
      assert.equal((error as KilnError).kind, 'unavailable');
      return true;
    });
    assert.deepEqual(readdirSync(dir), ['target']);
    assert.deepEqual(readdirSync(path), []);
  });

  it('removes its temp file when a chunk source throws midway', () => {
    const dir = freshDir();
    const path = join(dir, 'out.bin');
    writeFileSync(path, 'previous');
    const failing = (function* () {
      yield text('partial');
      throw new Error('source broke');
    })();
    assert.throws(() => writeFileAtomic(path, failing), throwsWith('KILN_IO_WRITE_FAILED', /source broke/));
    assert.deepEqual(readdirSync(dir), ['out.bin']);
    assert.equal(readFileSync(path, 'utf8'), 'previous');
  });
});

describe('writeTempSibling + commitTempFiles', () => {
  it('writes temps beside their targets and commits both', () => {
    const dir = freshDir();
    const model = join(dir, 'model.onnx');
    const data = join(dir, 'model.onnx.data');
    const modelTemp = writeTempSibling(model, [text('graph')]);
    const dataTemp = writeTempSibling(data, [text('weights')]);
    assert.equal(dirname(modelTemp), dir);
    assert.equal(readFileSync(modelTemp, 'utf8'), 'graph');
    assert.ok(!existsSync(model) && !existsSync(data), 'nothing is visible before the commit');
    commitTempFiles([
      [modelTemp, model],
      [dataTemp, data],
    ]);
    assert.equal(readFileSync(model, 'utf8'), 'graph');
    assert.equal(readFileSync(data, 'utf8'), 'weights');
    assert.deepEqual(readdirSync(dir).sort(), ['model.onnx', 'model.onnx.data']);
  });

  it('removes every temp not yet renamed when a rename fails, and names the failed target', () => {
    const dir = freshDir();
    const first = join(dir, 'a.bin');
    const blocked = join(dir, 'b.bin');
    const third = join(dir, 'c.bin');
    mkdirSync(blocked);
    writeFileSync(join(blocked, 'keep'), 'in the way');
    const temps = [writeTempSibling(first, [text('a')]), writeTempSibling(blocked, [text('b')]), writeTempSibling(third, [text('c')])];
    assert.equal(readdirSync(dir).filter((name) => name.endsWith('.tmp')).length, 3);
    assert.throws(
      () =>
        commitTempFiles([
          [temps[0]!, first],
          [temps[1]!, blocked],
          [temps[2]!, third],
        ]),
      (error) => {
        throwsWith('KILN_IO_WRITE_FAILED', new RegExp(`^${escape(blocked)}: cannot write`))(error);
        assert.equal((error as KilnError).details['path'], blocked);
        return true;
      },
    );
    // The first rename happened; the failed one and the one after it are cleaned up.
    assert.deepEqual(readdirSync(dir).sort(), ['a.bin', 'b.bin']);
    assert.equal(readFileSync(first, 'utf8'), 'a');
    assert.deepEqual(readdirSync(blocked), ['keep']);
  });

  it('throws KILN_IO_WRITE_FAILED from writeTempSibling when the directory is missing', () => {
    const dir = freshDir();
    assert.throws(() => writeTempSibling(join(dir, 'nope', 'x.bin'), [text('x')]), throwsWith('KILN_IO_WRITE_FAILED', /no such file or directory/));
    assert.deepEqual(readdirSync(dir), []);
  });
});

describe('ioReason', () => {
  it('maps known fs codes to short reasons', () => {
    assert.equal(ioReason({ code: 'ENOENT' }), 'no such file or directory');
    assert.equal(ioReason({ code: 'EACCES' }), 'permission denied');
    assert.equal(ioReason({ code: 'EISDIR' }), 'is a directory');
    assert.equal(ioReason({ code: 'ENOSPC' }), 'no space left on device');
  });

  it('maps a real fs error by its code', () => {
    let caught: unknown;
    try {
      readFileSync(join(root, 'does-not-exist'));
    } catch (error) {
      caught = error;
    }
    assert.equal(ioReason(caught), 'no such file or directory');
  });

  it('falls back to the code, then the message, then the string', () => {
    assert.equal(ioReason({ code: 'EWEIRD' }), 'EWEIRD');
    assert.equal(ioReason(new Error('disk on fire')), 'disk on fire');
    assert.equal(ioReason({ code: 42 }), '[object Object]');
    assert.equal(ioReason('plain text'), 'plain text');
    assert.equal(ioReason(undefined), 'undefined');
  });
});
