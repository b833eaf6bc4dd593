import { existsSync, statSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { parseModelConfig } from '../../archive/model-config.js';
import { extraFileEntries, writeArchive, type ArchiveEntry, type ArchiveFormat } from '../../archive/write.js';
import { KilnError } from '../../core/errors.js';
import { readFileChecked } from '../../core/fs.js';
import { externalLocation } from '../../onnx/external-data.js';
import { readModel } from '../../onnx/model-io.js';
import { isExternal } from '../../onnx/tensor.js';
import { allTensors } from '../../onnx/walk.js';
import { bundleHandler, BUNDLED_HANDLER_FILE } from '../../handlers/bundle.js';
import { isBuiltinHandler } from '../../handlers/builtin-handlers.js';
import { formatBytes, table } from '../format.js';
import type { CliIO } from '../io.js';

/** Flags of `kiln archive`, as torch-model-archiver names them. */
export interface ArchiveFlags {
  readonly modelName: string;
  readonly version: string;
  readonly serializedFile?: string;
  readonly handler: string;
  readonly extraFiles?: string;
  readonly configFile?: string;
  readonly exportPath: string;
  readonly archiveFormat: ArchiveFormat;
  readonly force: boolean;
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
 * Python handlers and other files are refused with a clear error.
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

/** `kiln archive`: builds a .mar (or tgz, or folder) from an ONNX model and a handler. */
export async function runArchive(flags: ArchiveFlags, io: CliIO): Promise<void> {
  const entries: ArchiveEntry[] = [];
  if (flags.serializedFile) entries.push(...modelEntries(flags.serializedFile));
  const handler = await handlerEntries(flags.handler);
  entries.push(...handler.entries);
  for (const item of (flags.extraFiles ?? '').split(',').map((s) => s.trim()).filter(Boolean)) entries.push(...extraFileEntries(item));
  if (flags.configFile) {
    // Validate at the edge: a bad config is refused now, not when a server loads the archive.
    parseModelConfig(readFileChecked(flags.configFile, 'config file').toString('utf8'), flags.configFile);
    entries.push({ name: basename(flags.configFile), source: { path: flags.configFile } });
  }
  const written = await writeArchive({
    modelName: flags.modelName,
    modelVersion: flags.version,
    handler: handler.spec,
    ...(flags.serializedFile ? { serializedFile: basename(flags.serializedFile) } : {}),
    ...(flags.configFile ? { configFile: basename(flags.configFile) } : {}),
    entries,
    exportPath: flags.exportPath,
    format: flags.archiveFormat,
    force: flags.force,
  });
  const size = statSync(written.path).isDirectory() ? '' : ` (${formatBytes(statSync(written.path).size)})`;
  io.out(`wrote ${written.path}${size}: ${written.files.length} files, handler ${handler.spec}`);
}
