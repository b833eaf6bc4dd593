/**
 * torch-model-archiver flags that kiln accepts so that an existing packaging script gets a
 * clear answer instead of "unknown option": `--runtime`, `-r/--requirements-file` and
 * `--model-file`. What each one means for kiln is in docs/handlers.md.
 */
import { KILN_RUNTIME } from '../../archive/manifest.js';
import { KilnError } from '../../core/errors.js';
import { checkReadableFile } from '../../core/fs.js';
import type { CliIO } from '../io.js';

/** The torch-model-archiver flags, as given (undefined: not given). */
export interface ArchiverCompatFlags {
  /** `--runtime`: only kiln's own value is accepted. */
  readonly runtime?: string;
  /** `-r, --requirements-file`: always refused (kiln installs no Python packages). */
  readonly requirementsFile?: string;
  /** `--model-file`: the Python model class of an eager-mode model; ignored next to an ONNX file. */
  readonly modelFile?: string;
  /** `--serialized-file`, which `--model-file` needs. */
  readonly serializedFile?: string;
}

/**
 * Refuses what kiln cannot honour (a Python runtime, a pip requirements file, an eager-mode model)
 * and warns, on stderr, that `--model-file` is ignored: an ONNX file carries the whole graph, so
 * the class that TorchServe would import to rebuild the model is never needed.
 * @throws KilnError `KILN_ARCHIVE_UNSUPPORTED`, or `KILN_IO_NOT_FOUND` for a missing `--model-file`.
 */
export function checkArchiverCompat(flags: ArchiverCompatFlags, io: CliIO): void {
  if (flags.runtime !== undefined && flags.runtime !== KILN_RUNTIME) {
    throw new KilnError(
      'KILN_ARCHIVE_UNSUPPORTED',
      `--runtime ${flags.runtime}: kiln does not run a Python runtime; its handlers run in Node.js (leave --runtime out, or pass --runtime ${KILN_RUNTIME})`,
    );
  }
  if (flags.requirementsFile !== undefined) {
    throw new KilnError(
      'KILN_ARCHIVE_UNSUPPORTED',
      `--requirements-file ${flags.requirementsFile}: kiln does not install Python packages; a TypeScript handler's npm imports are bundled into the archive (see docs/handlers.md)`,
    );
  }
  if (flags.modelFile === undefined) return;
  if (flags.serializedFile === undefined) {
    throw new KilnError(
      'KILN_ARCHIVE_UNSUPPORTED',
      `--model-file ${flags.modelFile} without --serialized-file is an eager-mode PyTorch model, which kiln does not run: export it with torch.onnx.export and pass the .onnx file as --serialized-file`,
    );
  }
  checkReadableFile(flags.modelFile, 'model file');
  io.err(`kiln: warning: --model-file ${flags.modelFile} is ignored and not archived: ${flags.serializedFile} is ONNX and carries the whole graph`);
}
