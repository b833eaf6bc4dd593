/**
 * Model, version and workflow names, checked wherever they enter: REST, MANIFEST.json,
 * config.properties `models=` / `model_snapshot` / `load_models`, workflow archives. They become
 * URL path segments, folder names and metric labels, so nothing path-like may pass.
 */

/**
 * TorchServe's model-name rule (torch-model-archiver and torch-workflow-archiver): a letter or
 * digit, then letters, digits, `_`, `-` and `.`. Versions use the same characters.
 */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_\-.]*$/;

/** TorchServe sets no length limit; kiln's keeps names usable as file names (255 bytes) and labels. */
export const MAX_NAME_LENGTH = 128;
/** Versions are short in practice (`1.0`, `2024-07-a`); kiln's limit. */
export const MAX_VERSION_LENGTH = 64;

/** What is being named, as it appears in messages. */
export type NameKind = 'model name' | 'model version' | 'workflow name';

/** Why `value` is not an allowed name of `kind`, or undefined when it is. */
export function nameProblem(kind: NameKind, value: string): string | undefined {
  const max = kind === 'model version' ? MAX_VERSION_LENGTH : MAX_NAME_LENGTH;
  if (value.length > max) return `${kind} is ${value.length} characters long; the limit is ${max}`;
  if (!NAME_PATTERN.test(value)) {
    return `${kind} '${value}' is not allowed: it must start with a letter or digit and contain only letters, digits, '_', '-' and '.'`;
  }
  return undefined;
}
