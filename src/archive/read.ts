import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { KilnError, type ErrorCode } from '../core/errors.js';
import { resolveInside } from '../core/fs.js';
import { extractArchive, type ExtractLimits } from './extract.js';
import { KILN_RUNTIME, MANIFEST_FILE, parseManifest, type Manifest } from './manifest.js';
import { parseModelConfig, type ModelConfig } from './model-config.js';

/** An archive opened for serving or inspection: files on disk, manifest and config parsed. */
export interface OpenedArchive {
  readonly source: string;
  readonly format: 'zip' | 'tgz' | 'directory';
  /** Folder holding the archive's files (a private temp dir, or the directory itself). */
  readonly dir: string;
  readonly files: readonly string[];
  readonly manifest: Manifest;
  /** model-config.yaml, or empty settings when the archive has none. */
  readonly modelConfig: ModelConfig;
  /** Absolute path of the ONNX model, when the manifest names one. */
  readonly modelPath: string | undefined;
  /** Deletes the extracted files (a no-op for a directory archive). */
  remove(): Promise<void>;
}

/** Options for {@link openArchive}. */
export interface OpenArchiveOptions {
  readonly limits?: Partial<ExtractLimits>;
}

const EMPTY_CONFIG: ModelConfig = Object.freeze({ server: Object.freeze({}), handler: Object.freeze({}) });

const PYTHON_FILE = /\.py$/i;
const TORCH_FILE = /\.(pt|pth|pkl|ckpt)$/i;

/**
 * Opens a .mar (zip), .tar.gz or directory archive safely (see extract.ts), then validates
 * what kiln needs: a manifest, a handler kiln can run, and an ONNX serialized file. On any
 * failure the extracted files are removed before the error is thrown.
 */
export async function openArchive(source: string, options: OpenArchiveOptions = {}): Promise<OpenedArchive> {
  const extracted = await extractArchive(source, options.limits ? { limits: options.limits } : {});
  try {
    const manifestPath = resolveInside(extracted.dir, MANIFEST_FILE);
    if (!manifestPath || !existsSync(manifestPath)) {
      throw new KilnError('KILN_ARCHIVE_MANIFEST_INVALID', `${source}: not a model archive (no ${MANIFEST_FILE})`);
    }
    const manifest = parseManifest(readFileSync(manifestPath, 'utf8'), source);
    refuseUnsupported(source, manifest);
    const serialized = manifest.model.serializedFile;
    const modelPath = serialized ? archiveFile(source, extracted.dir, serialized, 'serialized file', 'KILN_ARCHIVE_MODEL_INVALID') : undefined;
    if (modelPath) checkOnnxFile(source, serialized!, modelPath);
    const configFile = manifest.model.configFile;
    let modelConfig = EMPTY_CONFIG;
    if (configFile) {
      const configPath = archiveFile(source, extracted.dir, configFile, 'config file', 'KILN_ARCHIVE_MODEL_CONFIG_INVALID');
      modelConfig = parseModelConfig(readFileSync(configPath, 'utf8'), `${source}: ${configFile}`);
    }
    return {
      source,
      format: extracted.format,
      dir: extracted.dir,
      files: extracted.files,
      manifest,
      modelConfig,
      modelPath,
      remove: () => extracted.remove(),
    };
  } catch (error) {
    await extracted.remove();
    throw error;
  }
}

/**
 * The path of a file the manifest names, which must be a file inside the archive: names from
 * a manifest are untrusted, and `../x` or a link out would reach files of the host.
 */
function archiveFile(source: string, dir: string, name: string, what: string, code: ErrorCode): string {
  const path = resolveInside(dir, name);
  if (!path) throw new KilnError(code, `${source}: the manifest's ${what} '${name}' points outside the archive`);
  if (!existsSync(path)) throw new KilnError(code, `${source}: the manifest names ${what} '${name}', which is not in the archive`);
  return path;
}

/** Runtimes a manifest may declare: kiln's own, and TorchServe's (refused later if it needs Python). */
const RUNTIMES = new Set([KILN_RUNTIME, 'python', 'python3']);

/** TorchServe built-in handlers kiln has no TypeScript counterpart for. */
const TORCHSERVE_ONLY_HANDLERS = new Set(['object_detector', 'image_segmenter', 'text_classifier', 'base_handler']);

/** Why kiln can never run `handler` (`file[:function]` or a built-in name), or undefined. */
function unsupportedHandler(handler: string): string | undefined {
  const handlerFile = handler.split(':')[0]!;
  if (PYTHON_FILE.test(handlerFile)) return `a Python handler '${handlerFile}'`;
  if (TORCHSERVE_ONLY_HANDLERS.has(handlerFile)) return `TorchServe's built-in handler '${handlerFile}', which kiln does not have (kiln's: image_classifier, ocr, tensor)`;
  return undefined;
}

/**
 * The archive served with another handler (`POST /models?handler=`, TorchServe's override of
 * the manifest's): a built-in name or `file[:function]` inside the archive. A Python handler or
 * a TorchServe-only built-in is refused here, as in a manifest; a name that is simply not there
 * is found when a worker loads it (500 "Failed to start workers", as TorchServe answers).
 * The returned archive shares the files (and `remove`) of `archive`.
 */
export function withHandler(archive: OpenedArchive, handler: string): OpenedArchive {
  const problem = unsupportedHandler(handler);
  if (problem) {
    throw new KilnError('KILN_ARCHIVE_UNSUPPORTED', `Parameter handler names ${problem}; kiln runs TypeScript handlers (a built-in name or a bundled file in the archive)`, {
      details: { problems: [problem] },
    });
  }
  return { ...archive, manifest: { ...archive.manifest, model: { ...archive.manifest.model, handler } } };
}

function refuseUnsupported(source: string, manifest: Manifest): void {
  if (!RUNTIMES.has(manifest.runtime)) {
    throw new KilnError('KILN_ARCHIVE_MANIFEST_INVALID', `${source}: Runtime is not defined or invalid: '${manifest.runtime}' (kiln writes '${KILN_RUNTIME}')`);
  }
  const { handler, serializedFile, modelFile } = manifest.model;
  const problems: string[] = [];
  const handlerProblem = unsupportedHandler(handler);
  if (handlerProblem) problems.push(handlerProblem);
  if (modelFile && PYTHON_FILE.test(modelFile)) problems.push(`a Python model definition '${modelFile}'`);
  if (serializedFile && TORCH_FILE.test(serializedFile)) problems.push(`a PyTorch serialized file '${serializedFile}'`);
  if (problems.length > 0) {
    throw new KilnError(
      'KILN_ARCHIVE_UNSUPPORTED',
      `${source}: this archive has ${problems.join(' and ')}; kiln runs ONNX models with TypeScript handlers ` +
        `(export the model with torch.onnx.export and rebuild the archive with kiln archive)`,
      { details: { problems } },
    );
  }
}

/**
 * A cheap check that a file is an ONNX ModelProto: protobuf writes fields in number order, so
 * a model starts with field 1 (ir_version, a varint: byte 0x08). The full decode happens when
 * the model is loaded.
 */
function checkOnnxFile(source: string, name: string, path: string): void {
  if (!existsSync(path)) {
    throw new KilnError('KILN_ARCHIVE_MODEL_INVALID', `${source}: the manifest names serialized file '${name}', which is not in the archive`);
  }
  if (!statSync(path).isFile()) {
    throw new KilnError('KILN_ARCHIVE_MODEL_INVALID', `${source}: the manifest names serialized file '${name}', which is not a file in the archive`);
  }
  const head = new Uint8Array(4);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  if (head[0] !== 0x08) {
    const what = head[0] === 0x50 && head[1] === 0x4b ? ' (it is a zip, like a TorchScript or PyTorch .pt file)' : head[0] === 0x80 ? ' (it is a Python pickle)' : '';
    throw new KilnError('KILN_ARCHIVE_MODEL_INVALID', `${source}: serialized file '${basename(path)}' is not an ONNX model${what}`);
  }
}
