/**
 * `kiln/archive`: model archives (`.mar`, TorchServe's format) and workflow archives (`.war`)
 * from code: create one from a model and a handler, open one to look inside, read and write
 * its manifest and model-config.yaml. Named exports only, as in `kiln`.
 */
export { createModelArchive, type ModelArchiveOptions, type WrittenModelArchive } from '../handlers/model-archive.js';
export { writeArchive, archivePath, type ArchiveEntry, type ArchiveFormat, type ArchiveSpec, type WrittenArchive } from '../archive/write.js';
export { openArchive, type OpenArchiveOptions, type OpenedArchive } from '../archive/read.js';
export { extractArchive, EXTRACT_DEFAULTS, type ExtractedArchive, type ExtractedFormat, type ExtractLimits, type ExtractOptions } from '../archive/extract.js';
export {
  createManifest,
  encodeManifest,
  parseManifest,
  KILN_RUNTIME,
  MANIFEST_FILE,
  type Manifest,
  type ManifestInit,
} from '../archive/manifest.js';
export { parseModelConfig, type ModelConfig } from '../archive/model-config.js';
export {
  openWorkflowArchive,
  writeWorkflowArchive,
  workflowArchivePath,
  type OpenedWorkflowArchive,
  type OpenWorkflowOptions,
  type WorkflowArchiveSpec,
  type WrittenWorkflowArchive,
} from '../archive/workflow-archive.js';
