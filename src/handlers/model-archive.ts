/**
 * Building a model archive from code: what `kiln archive` (torch-model-archiver) does, without the
 * printing. It lives beside the handler bundler because a user handler is bundled into the
 * archive (`handler.cjs`), so the server needs neither a compiler nor the handler's node_modules.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { parseModelConfig, type ModelConfig } from '../archive/model-config.js';
import { extraFileEntries, writeArchive, type ArchiveEntry, type ArchiveFormat, type WrittenArchive } from '../archive/write.js';
import { isKilnError, KilnError, type ErrorCode } from '../core/errors.js';
import { readFileChecked } from '../core/fs.js';
import { externalLocation } from '../onnx/external-data.js';
import { encodeModel, readModel } from '../onnx/model-io.js';
import { DataType } from '../onnx/dtype.js';
import { isExternal } from '../onnx/tensor.js';
import { allTensors } from '../onnx/walk.js';
import { bundleHandler, BUNDLED_HANDLER_FILE } from './bundle.js';
import { isBuiltinHandler } from './builtin-names.js';
import { resolveHandlerImage } from './image-config.js';
import { firstInput, foldForDescription } from './fold-description.js';

/** What {@link createModelArchive} packs, with torch-model-archiver's meaning for each field. */
export interface ModelArchiveOptions {
  /** Model name (letters, digits, `_ - .`). */
  readonly modelName: string;
  /** @defaultValue `'1.0'` */
  readonly version?: string;
  /** The ONNX model; the external data files its tensors point at go in too. */
  readonly serializedFile?: string;
  /** A built-in handler name (`image_classifier`, `ocr`, `tensor`) or a `.ts`/`.js` file, optionally `file:function`. */
  readonly handler: string;
  /** Files or folders added to the archive root. */
  readonly extraFiles?: readonly string[];
  /** A `model-config.yaml` (workers, batching, handler settings), checked before it is packed. */
  readonly configFile?: string;
  /** Folder the archive is written to. @defaultValue `'.'` */
  readonly exportPath?: string;
  /** @defaultValue `'default'` (a `.mar` zip) */
  readonly format?: ArchiveFormat;
  /** Overwrite an existing archive. @defaultValue false */
  readonly force?: boolean;
  /**
   * Write the model with its image preprocessing folded in (image_classifier only): its input
   * becomes uint8 `[N, H, W, C]` pixels, as the config's `handler.image` describes them, so a
   * server loads it without decoding or rewriting it, and it runs in any ONNX Runtime without
   * kiln's normalize step. `true` refuses a model or description that cannot be folded; `false`
   * writes the model as it is. @defaultValue folded when the handler is `image_classifier`, the
   * description folds (a fixed size, no padding) and the config does not set
   * `handler.foldPreprocess: false`; as it is otherwise
   */
  readonly foldPreprocess?: boolean;
}

/** What {@link createModelArchive} wrote. */
export interface WrittenModelArchive extends WrittenArchive {
  /** True when this call folded the image preprocessing into the archived model (its input: uint8 pixels). */
  readonly preprocessFolded: boolean;
}

/** What cannot be folded when the caller asked for it, and is archived as it is when it did not. */
const NOT_FOLDABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['KILN_ONNX_FOLD_UNSUPPORTED', 'KILN_ONNX_TOO_LARGE']);

/**
 * The model with `handler.image` of the config folded in, as one in-memory entry (external data
 * inlined, so it must fit in 2 GiB); undefined when folding was not asked for explicitly and
 * does not apply (see {@link ModelArchiveOptions.foldPreprocess}).
 */
function foldedModelEntry(options: ModelArchiveOptions, config: ModelConfig | undefined): ArchiveEntry | undefined {
  const required = options.foldPreprocess === true;
  if (options.foldPreprocess === false) return undefined;
  if (options.handler !== 'image_classifier') {
    if (!required) return undefined;
    throw new KilnError('KILN_CLI_USAGE', `--fold-preprocess works with --handler image_classifier (the handler that feeds pixels), not ${options.handler}`);
  }
  if (!options.serializedFile) {
    if (!required) return undefined;
    throw new KilnError('KILN_CLI_USAGE', '--fold-preprocess needs a --serialized-file');
  }
  const handlerConfig = config?.handler['handler'];
  const section = typeof handlerConfig === 'object' && handlerConfig !== null ? (handlerConfig as Record<string, unknown>) : {};
  if (!required && section['foldPreprocess'] === false) return undefined;
  const { model } = readModel(options.serializedFile);
  const input = firstInput(model);
  if (!required && input?.dataType !== DataType.FLOAT) return undefined;
  const preprocess = resolveHandlerImage('image_classifier', section['image'], input?.shape ?? []);
  try {
    return { name: basename(options.serializedFile), source: { bytes: encodeModel(foldForDescription(model, preprocess)) } };
  } catch (error) {
    if (required || !(isKilnError(error) && NOT_FOLDABLE.has(error.code))) throw error;
    return undefined;
  }
}

const HANDLER_SOURCE = new Set(['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs', '.tsx', '.jsx']);

/** The serialized model and the side files its tensors point at. */
function modelEntries(path: string): ArchiveEntry[] {
  const { model } = readModel(path, { loadExternalData: false });
  const locations = new Set<string>();
  for (const { tensor } of allTensors(model)) if (isExternal(tensor)) locations.add(externalLocation(tensor).location);
  return [
    { name: basename(path), source: { path } },
    ...[...locations].map((location) => ({ name: location.split('\\').join('/'), source: { path: join(dirname(path), location) } })),
  ];
}

/**
 * Bundles a TypeScript or JavaScript handler file into the archive's `handler.cjs` entry;
 * Python handlers and other files are refused with a clear error. `flag` names the option in
 * the error, as the user wrote it.
 */
export async function bundledHandlerEntry(file: string, flag = '--handler'): Promise<ArchiveEntry> {
  if (extname(file) === '.py') {
    throw new KilnError('KILN_ARCHIVE_UNSUPPORTED', `${file}: kiln runs TypeScript handlers, not Python ones: write the handler in TypeScript (see docs/handlers.md)`);
  }
  if (!existsSync(file)) {
    throw new KilnError('KILN_HANDLER_NOT_FOUND', `${flag} '${file}' is not an existing file`);
  }
  if (!HANDLER_SOURCE.has(extname(file))) {
    throw new KilnError('KILN_CLI_USAGE', `${flag} ${file}: expected a .ts or .js file`);
  }
  return { name: BUNDLED_HANDLER_FILE, source: { bytes: await bundleHandler(file) } };
}

async function handlerEntries(handler: string): Promise<{ spec: string; entries: ArchiveEntry[] }> {
  if (isBuiltinHandler(handler)) return { spec: handler, entries: [] };
  const [file, fn] = handler.split(':') as [string, string | undefined];
  if (extname(file) !== '.py' && !existsSync(file)) {
    throw new KilnError('KILN_HANDLER_NOT_FOUND', `--handler '${handler}' is neither a built-in handler (image_classifier, ocr, tensor) nor an existing file`);
  }
  const entry = await bundledHandlerEntry(file);
  return { spec: fn ? `${BUNDLED_HANDLER_FILE}:${fn}` : BUNDLED_HANDLER_FILE, entries: [entry] };
}

/**
 * Packs an ONNX model and its handler into a model archive (`.mar`, `.tar.gz` or a folder) that
 * `kiln serve` and TorchServe's management API load. The config file is validated here, so a bad
 * one is refused now rather than when a server loads the archive.
 * @example await createModelArchive({ modelName: 'cls', serializedFile: 'cls.onnx', handler: 'image_classifier', exportPath: 'model_store' });
 */
export async function createModelArchive(options: ModelArchiveOptions): Promise<WrittenModelArchive> {
  const entries: ArchiveEntry[] = [];
  const config = options.configFile ? parseModelConfig(readFileChecked(options.configFile, 'config file').toString('utf8'), options.configFile) : undefined;
  const folded = foldedModelEntry(options, config);
  if (folded) entries.push(folded);
  else if (options.serializedFile) entries.push(...modelEntries(options.serializedFile));
  const handler = await handlerEntries(options.handler);
  entries.push(...handler.entries);
  for (const item of options.extraFiles ?? []) entries.push(...extraFileEntries(item));
  if (options.configFile) entries.push({ name: basename(options.configFile), source: { path: options.configFile } });
  const written = await writeArchive({
    modelName: options.modelName,
    modelVersion: options.version ?? '1.0',
    handler: handler.spec,
    ...(options.serializedFile ? { serializedFile: basename(options.serializedFile) } : {}),
    ...(options.configFile ? { configFile: basename(options.configFile) } : {}),
    entries,
    exportPath: options.exportPath ?? '.',
    format: options.format ?? 'default',
    force: options.force ?? false,
  });
  return { ...written, preprocessFolded: folded !== undefined };
}
