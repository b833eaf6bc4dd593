/**
 * Quantizing a model archive: the model inside is calibrated on data prepared exactly as the
 * archive's own handler prepares requests (its model-config.yaml `handler.image`, resolved by the
 * handler's own resolver), quantized by the library's {@link quantize}, and written back into a
 * new `.mar` with every other file — the MANIFEST.json included — copied byte for byte.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, posix } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { MANIFEST_FILE } from '../archive/manifest.js';
import { openArchive, type OpenedArchive } from '../archive/read.js';
import { packEntries, type ArchiveEntry } from '../archive/write.js';
import { KilnError } from '../core/errors.js';
import { resolveHandlerImage } from '../handlers/image-config.js';
import type { ImagePreprocess } from '../image/index.js';
import type { CalibrationSourceOptions } from '../quantize/data/index.js';
import { readModel, writeModel } from '../onnx/model-io.js';
import { foldImagePreprocess, unfoldImagePreprocess } from '../onnx/passes/fold-image-preprocess.js';
import { Engine } from '../runtime/engine.js';
import { quantize } from './quantize.js';
import type { AccuracyTarget, QuantizeMode, QuantizeOptions, QuantizeRunReport } from './types.js';

/** Built-in handlers whose requests are images described by `handler.image`. */
const IMAGE_HANDLERS = new Set(['image_classifier']);

/** What {@link quantizeArchive} takes: {@link QuantizeOptions}, with the data given as a path. */
export interface QuantizeArchiveOptions extends Omit<QuantizeOptions, 'data'> {
  /** The new archive: a `.mar` file. */
  readonly output: string;
  /**
   * Calibration data: images for an image handler (prepared by the archive's `handler.image`;
   * a `preprocess` here must describe the same preprocessing), `.npy` folders or a module otherwise.
   */
  readonly data?: { readonly path: string; readonly options?: CalibrationSourceOptions };
}

/** What {@link quantizeArchive} did. */
export interface QuantizeArchiveReport {
  readonly input: { readonly path: string; readonly bytes: number };
  readonly output: { readonly path: string; readonly bytes: number };
  readonly handler: string;
  /** The model's name inside both archives (the manifest's `serializedFile`). */
  readonly serializedFile: string;
  /** The image preprocessing the data was prepared with (the archive handler's own); undefined without image data. */
  readonly preprocess: ImagePreprocess | undefined;
  /** The quantize run on the model inside (its paths are temporary files, gone by now). */
  readonly model: QuantizeRunReport;
}

/** True when `path` names a model archive rather than a bare model: `.mar`, `.tar.gz`, `.tgz`, or a folder with a manifest. */
export function isArchivePath(path: string): boolean {
  if (/\.(mar|tar\.gz|tgz)$/i.test(path)) return true;
  try {
    return statSync(path).isDirectory() && existsSync(join(path, MANIFEST_FILE));
  } catch {
    return false;
  }
}

/**
 * Quantizes the model inside an archive and writes a new archive that differs from it only in
 * the model file (and the external-data side files of the old model, now inline). A model with
 * its image preprocessing folded in comes back folded the same way. The archive's handler decides how calibration data is read: `image_classifier`
 * prepares images with its `handler.image` (the same resolution the serving handler makes, so
 * calibration sees the tensors requests will); `tensor` and bundled user handlers take `.npy`
 * folders or a module, as for a bare model. An `ocr` archive holds three models and is refused.
 * @throws KilnError `KILN_CORE_INVALID_ARGUMENT` (output not a `.mar`), `KILN_IO_OUTPUT_EXISTS`
 *   (without `force`), `KILN_ARCHIVE_UNSUPPORTED` (ocr, or no serialized model),
 *   `KILN_QUANTIZE_CALIBRATION_INVALID` (a `preprocess` that contradicts the archive's), and
 *   {@link quantize}'s own; nothing is left at `output` on failure.
 * @example await quantizeArchive('cls.mar', { mode, output: 'cls-int8.mar', data: { path: 'lines/' } });
 */
export async function quantizeArchive(input: string, options: QuantizeArchiveOptions): Promise<QuantizeArchiveReport> {
  if (!/\.mar$/i.test(options.output)) {
    throw new KilnError('KILN_CORE_INVALID_ARGUMENT', `${options.output}: the quantized copy of an archive is written as a .mar file (-o NAME.mar)`);
  }
  if (!options.force && existsSync(options.output)) {
    throw new KilnError('KILN_IO_OUTPUT_EXISTS', `${options.output} already exists: use --force to overwrite it`);
  }
  const archive = await openArchive(input);
  const work = mkdtempSync(join(tmpdir(), 'kiln-quantize-archive-'));
  try {
    const { handler, serializedFile } = archive.manifest.model;
    const modelPath = archive.modelPath;
    if (handler === 'ocr') {
      throw new KilnError(
        'KILN_ARCHIVE_UNSUPPORTED',
        `${input}: an ocr archive holds three models (detector, classifier, recognizer); quantize each .onnx with kiln quantize and pack them again with kiln archive`,
      );
    }
    if (!serializedFile || !modelPath) throw new KilnError('KILN_ARCHIVE_UNSUPPORTED', `${input}: the manifest names no serialized model to quantize`);
    // Read here (once; quantize takes the parsed model) to learn the side files of external data:
    // the quantized model is written inline, so they are the files that must not be copied.
    const loaded = readModel(modelPath);
    const sideFiles = new Set(loaded.externalFiles.map((location) => posix.normalize(posix.join(posix.dirname(normalize(serializedFile)), location))));
    // A model with the preprocessing folded in (kiln archive's default) is quantized as the float
    // model it was folded from, calibrated on the same tensors as before, and folded again after.
    const unfolded = unfoldImagePreprocess(loaded.model);
    const floatModel = unfolded ? { path: join(work, `unfolded-${basename(serializedFile)}`), model: unfolded.model } : { path: modelPath, model: loaded.model };
    if (unfolded) writeModel(unfolded.model, floatModel.path);
    // Only images need the handler's preprocessing: calibration data, or a budget's held-out data.
    const readsImages = options.data !== undefined || (options.mode.kind === 'static' && options.mode.budget !== undefined);
    const preprocess = IMAGE_HANDLERS.has(handler) && readsImages ? await handlerPreprocess(archive, handler, floatModel.path) : undefined;
    const data = options.data ? { path: options.data.path, options: calibrationOptions(input, handler, preprocess, options.data.options ?? {}) } : undefined;
    const quantizedPath = join(work, basename(serializedFile));
    const { data: _data, output: _output, mode, ...rest } = options;
    const model = await quantize(floatModel, {
      ...rest,
      mode: withHeldOutPreprocess(mode, preprocess?.image),
      output: quantizedPath,
      force: true,
      ...(data ? { data } : {}),
    });
    if (unfolded) writeModel(foldImagePreprocess(readModel(quantizedPath).model, unfolded.options).model, quantizedPath);
    const entries: ArchiveEntry[] = archive.files.filter((name) => !sideFiles.has(name)).map((name) => ({
      name,
      source: { path: name === normalize(serializedFile) ? quantizedPath : join(archive.dir, name) },
    }));
    await packEntries(options.output, entries, { format: 'default', root: archive.manifest.model.modelName, force: options.force ?? false });
    return {
      input: { path: input, bytes: archiveBytes(archive) },
      output: { path: options.output, bytes: statSync(options.output).size },
      handler,
      serializedFile,
      preprocess: preprocess?.image,
      model,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
    await archive.remove();
  }
}

/** The serving handler's preprocessing and the input it feeds, resolved as the handler does on load. */
async function handlerPreprocess(archive: OpenedArchive, handler: string, modelPath: string): Promise<{ image: ImagePreprocess; input: string | undefined }> {
  // The handler reads the shape from its session's first input (only the old form needs it).
  const engine = await Engine.load(modelPath, { label: modelPath });
  try {
    const first = engine.inputs[0];
    // model-config.yaml's `handler:` section, as the handler reads it from its context.
    const section = archive.modelConfig.handler['handler'];
    const image = typeof section === 'object' && section !== null ? (section as Record<string, unknown>)['image'] : undefined;
    return { image: resolveHandlerImage(handler, image, first?.shape ?? []), input: first?.name };
  } finally {
    await engine.release();
  }
}

/**
 * The calibration source options for the archive: its handler's preprocessing, which an explicit
 * one may repeat but never contradict (calibrating on other tensors than served is the mistake
 * this command exists to prevent).
 */
function calibrationOptions(
  input: string,
  handler: string,
  preprocess: { image: ImagePreprocess; input: string | undefined } | undefined,
  options: CalibrationSourceOptions,
): CalibrationSourceOptions {
  if (!preprocess) {
    if (options.preprocess) {
      throw new KilnError('KILN_QUANTIZE_CALIBRATION_INVALID', `${input}: its handler '${handler}' takes tensors, not images: drop --preprocess and calibrate with .npy files or a module`);
    }
    return options;
  }
  if (options.preprocess && !isDeepStrictEqual(options.preprocess, preprocess.image)) {
    throw new KilnError(
      'KILN_QUANTIZE_CALIBRATION_INVALID',
      `--preprocess contradicts ${input}'s own handler.image (${describe(preprocess.image)}): drop --preprocess, calibration uses the archive's`,
    );
  }
  return { ...options, preprocess: preprocess.image, ...(options.input || !preprocess.input ? {} : { input: preprocess.input }) };
}

/** A budget's held-out images are prepared as the archive serves them, like the calibration ones. */
function withHeldOutPreprocess(mode: QuantizeMode, preprocess: ImagePreprocess | undefined): QuantizeMode {
  if (!preprocess || mode.kind !== 'static' || !mode.budget) return mode;
  const budget: AccuracyTarget =
    mode.budget.kind === 'max-drop'
      ? { ...mode.budget, options: { ...mode.budget.options, preprocess } }
      : 'path' in mode.budget.heldOut
        ? { ...mode.budget, heldOut: { ...mode.budget.heldOut, options: { ...mode.budget.heldOut.options, preprocess } } }
        : mode.budget;
  return { ...mode, budget };
}

function normalize(name: string): string {
  return name.split('\\').join('/').replace(/^\.\//, '');
}

function archiveBytes(archive: OpenedArchive): number {
  if (archive.format !== 'directory') return statSync(archive.source).size;
  return archive.files.reduce((sum, name) => sum + statSync(join(archive.dir, name)).size, 0);
}

/** A short description of an image preprocessing for one-line errors. */
function describe(image: ImagePreprocess): string {
  const { mode, ...size } = image.resize;
  return `resize ${mode} ${JSON.stringify(size)}, ${image.channelOrder}, ${image.layout}, mean ${image.mean.join(',')}, std ${image.std.join(',')}`;
}
