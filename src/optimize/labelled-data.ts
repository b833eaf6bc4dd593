import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { KilnError } from '../core/errors.js';
import { readFileChecked } from '../core/fs.js';
import { IMAGE_EXTENSIONS, openCalibrationSource, type CalibrationSourceOptions } from '../quantize/data/index.js';
import type { CalibrationSource, Feeds } from '../quantize/data/types.js';

/** One class folder of an ImageFolder tree and the class index it stands for. */
export interface LabelledClass {
  readonly folder: string;
  readonly index: number;
}

/** Samples with a class index each, streamed one class folder after another in turn. */
export interface LabelledData {
  readonly classes: readonly LabelledClass[];
  /** Every sample of every class: the first file of each class, then the second of each, … */
  readonly source: CalibrationSource;
  /** The class index of each sample yielded so far, in order (filled while `source` is read). */
  readonly labels: readonly number[];
}

function isImage(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
}

/**
 * True when `dir` is in torchvision's ImageFolder layout: only sub-folders (hidden entries
 * aside), each holding at least one image. Anything else is unlabelled data.
 */
export function isImageFolderTree(dir: string): boolean {
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) return false;
  const entries = readdirSync(dir).filter((name) => !name.startsWith('.'));
  if (entries.length === 0) return false;
  return entries.every((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() && readdirSync(path).some(isImage);
  });
}

/**
 * Class indices from a TorchServe `index_to_name.json` (`{"0": "tench", …}`, or ImageNet's
 * `{"0": ["n01440764", "tench"], …}`): each name, and each WordNet id, maps to its index.
 */
export function parseIndexToName(text: string, file: string): ReadonlyMap<string, number> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new KilnError('KILN_CORE_INVALID_ARGUMENT', `${file}: not JSON (${(error as Error).message})`, { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new KilnError('KILN_CORE_INVALID_ARGUMENT', `${file}: expected an object of class index → name, as TorchServe's index_to_name.json`);
  }
  const byName = new Map<string, number>();
  for (const [key, value] of Object.entries(parsed)) {
    const index = Number(key);
    const names = typeof value === 'string' ? [value] : Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
    if (!Number.isInteger(index) || index < 0 || names.length === 0) {
      throw new KilnError('KILN_CORE_INVALID_ARGUMENT', `${file}: entry "${key}" is not a class index with a name`);
    }
    for (const name of names) byName.set(name, index);
  }
  return byName;
}

/**
 * Opens an ImageFolder tree (`dir/<label>/*.jpg`) as labelled samples. Each folder name is
 * looked up in `labels` (from {@link parseIndexToName}); without it, classes are numbered in
 * sorted folder order, as torchvision's ImageFolder does. Images become tensors through the
 * calibration source API, so evaluation prepares them exactly as calibration does.
 * @throws KilnError `KILN_CORE_INVALID_ARGUMENT` for a folder name the labels lack.
 */
export function openLabelledData(dir: string, options: CalibrationSourceOptions, labelsFile?: string): LabelledData {
  const folders = readdirSync(dir).filter((name) => !name.startsWith('.')).sort();
  const byName = labelsFile ? parseIndexToName(readFileChecked(labelsFile, 'the labels').toString('utf8'), labelsFile) : undefined;
  const classes = folders.map((folder, position): LabelledClass => {
    const index = byName ? (byName.get(folder) ?? byName.get(folder.replace(/_/g, ' '))) : position;
    if (index === undefined) {
      throw new KilnError('KILN_CORE_INVALID_ARGUMENT', `${join(dir, folder)}: '${folder}' is not a class name in ${labelsFile} (name the folder as the labels do)`, {
        details: { folder },
      });
    }
    return { folder, index };
  });
  const { limit, ...perClassOptions } = options;
  const perClass = classes.map((entry) => ({ entry, source: openCalibrationSource(join(dir, entry.folder), perClassOptions) }));
  const labels: number[] = [];
  const counts = perClass.map(({ source }) => source.count);
  const total = counts.every((count) => count !== undefined) ? counts.reduce((sum: number, count) => sum + count!, 0) : undefined;
  const source: CalibrationSource = {
    description: `${total ?? '?'} labelled images in ${classes.length} class folders of ${dir}`,
    count: limit !== undefined && total !== undefined ? Math.min(limit, total) : total,
    // Round-robin over the classes, so that a limit still samples every class.
    async *samples(): AsyncIterable<Feeds> {
      labels.length = 0;
      let active = perClass.map(({ entry, source: classSource }) => ({ entry, iterator: classSource.samples()[Symbol.asyncIterator]() }));
      try {
        while (active.length > 0) {
          const next: typeof active = [];
          for (const item of active) {
            if (limit !== undefined && labels.length >= limit) return;
            const result = await item.iterator.next();
            if (result.done) continue;
            labels.push(item.entry.index);
            yield result.value;
            next.push(item);
          }
          active = next;
        }
      } finally {
        for (const item of active) await item.iterator.return?.();
      }
    },
  };
  return { classes, source, labels };
}
