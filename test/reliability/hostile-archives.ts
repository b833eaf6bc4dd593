/**
 * The hostile-archive corpus (issue 11): every kind is a small named generator that writes a
 * .mar, .tar.gz or model-store folder into a store, with what the server must answer for it.
 * Generated in code, so nothing hostile is checked in and each run gets fresh decoy names.
 */
import { CONFIG_KINDS } from './hostile/configs.js';
import { CONTAINER_KINDS } from './hostile/containers.js';
import { HANDLER_KINDS } from './hostile/handlers.js';
import type { HostileKind } from './hostile/kind.js';
import { MANIFEST_KINDS } from './hostile/manifests.js';
import { MODEL_KINDS } from './hostile/models.js';

export { ATTACK, type Expectation, type HostileKind, type Written, type WriteTarget } from './hostile/kind.js';

/** Every kind, grouped: containers, manifests, configs, models, handlers. */
export const HOSTILE_KINDS: readonly HostileKind[] = [...CONTAINER_KINDS, ...MANIFEST_KINDS, ...CONFIG_KINDS, ...MODEL_KINDS, ...HANDLER_KINDS];

const names = new Set<string>();
for (const kind of HOSTILE_KINDS) {
  if (names.has(kind.name)) throw new Error(`hostile kind ${kind.name} is defined twice`);
  names.add(kind.name);
}
