import { statSync } from 'node:fs';
import type { ArchiveFormat } from '../../archive/write.js';
import { createModelArchive } from '../../handlers/model-archive.js';
import { formatBytes } from '../format.js';
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
  /** Fold handler.image's preprocessing into the model (uint8 NHWC input): true requires it, false never; unset, when it applies. */
  readonly foldPreprocess?: boolean;
}

/** `kiln archive`: builds a .mar (or tgz, or folder) from an ONNX model and a handler. */
export async function runArchive(flags: ArchiveFlags, io: CliIO): Promise<void> {
  const written = await createModelArchive({
    modelName: flags.modelName,
    version: flags.version,
    handler: flags.handler,
    extraFiles: (flags.extraFiles ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    exportPath: flags.exportPath,
    format: flags.archiveFormat,
    force: flags.force,
    ...(flags.foldPreprocess !== undefined ? { foldPreprocess: flags.foldPreprocess } : {}),
    ...(flags.serializedFile ? { serializedFile: flags.serializedFile } : {}),
    ...(flags.configFile ? { configFile: flags.configFile } : {}),
  });
  const size = statSync(written.path).isDirectory() ? '' : ` (${formatBytes(statSync(written.path).size)})`;
  const folded = written.preprocessFolded ? '; model input: uint8 NHWC pixels (preprocessing folded in)' : '';
  io.out(`wrote ${written.path}${size}: ${written.files.length} files, handler ${written.manifest.model.handler}${folded}`);
}
