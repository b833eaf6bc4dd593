/** The directory path of extractArchive: a folder is listed in place, never copied. */
import { readdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { MAC_METADATA, archiveError, ioError, show, unsafeEntry, type ExtractLimits } from './extract-guard.js';

/** Lists a directory archive in place; links may point only inside it. */
export async function listDirectory(archive: string, root: string, limits: ExtractLimits): Promise<string[]> {
  const files: string[] = [];
  let count = 0;
  const walk = async (rel: string): Promise<void> => {
    const children = await readdir(join(root, rel), { withFileTypes: true }).catch((error: unknown) => {
      throw ioError(rel === '' ? archive : join(archive, rel), error);
    });
    for (const child of children) {
      const path = rel === '' ? child.name : `${rel}/${child.name}`;
      if (path === MAC_METADATA) continue;
      if (++count > limits.maxEntries) {
        const message = `entry ${show(path)} brings the entry count past ${limits.maxEntries}`;
        throw archiveError('KILN_ARCHIVE_TOO_LARGE', archive, message, path);
      }
      if (child.isDirectory()) await walk(path);
      else if (child.isFile()) files.push(path);
      else if (!child.isSymbolicLink()) throw unsafeEntry(archive, path, 'is a device, FIFO or socket');
      else if (await linkTarget(archive, root, path) === 'file') files.push(path);
    }
  };
  await walk('');
  return files;
}

/** Resolves a link inside a directory archive; one pointing outside it (or nowhere) is refused. */
async function linkTarget(archive: string, root: string, path: string): Promise<'file' | 'dir'> {
  let target: string;
  try {
    target = await realpath(join(root, path));
  } catch {
    throw unsafeEntry(archive, path, 'is a symbolic link whose target does not exist');
  }
  const inside = relative(root, target);
  if (inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
    throw unsafeEntry(archive, path, `is a symbolic link to ${target}, outside the archive folder`);
  }
  // A link to a folder inside is not followed: its files are listed under their real path.
  return (await stat(target)).isDirectory() ? 'dir' : 'file';
}
