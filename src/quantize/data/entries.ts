/**
 * What a calibration folder holds, with symbolic links followed (one rule for images and .npy
 * files; docs/quantization.md says it): a link counts as what it resolves to, wherever that is,
 * since the folder is the user's own data and kiln only reads it. Folders are never searched
 * recursively (a .npy folder goes one level down, to its per-input subfolders), so no link cycle
 * can be walked; a broken or looping link whose name asks to be read is refused with its path
 * rather than silently dropped.
 */
import { statSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { KilnError, describeError } from '../../core/errors.js';

/** What a folder entry is once its link, if any, is resolved. */
export function resolvedKind(folder: string, entry: Dirent): 'file' | 'folder' | 'other' {
  if (!entry.isSymbolicLink()) return entry.isFile() ? 'file' : entry.isDirectory() ? 'folder' : 'other';
  const path = join(folder, entry.name);
  try {
    const stat = statSync(path);
    return stat.isFile() ? 'file' : stat.isDirectory() ? 'folder' : 'other';
  } catch (error) {
    throw new KilnError('KILN_QUANTIZE_CALIBRATION_INVALID', `${path}: a symbolic link that leads to no file (${describeError(error)})`, {
      cause: error,
      details: { file: path },
    });
  }
}
