/**
 * Which versions, with which settings, a snapshot records. Kept apart from the registry's live
 * state so that a change can be written to disk before it happens (scale, unregister), and so
 * that a registration is recorded only once it is acknowledged.
 */
import { KilnError, isKilnError } from '../core/errors.js';
import { ioReason } from '../core/fs.js';
import type { ModelVersion } from './model-version.js';
import type { VersionSettings } from './settings.js';

/** The change being persisted, applied to the view while it is written. */
export interface PendingChange {
  /** Worker counts a scale is about to set. */
  readonly scaled?: { readonly version: ModelVersion; readonly min: number; readonly max: number };
  /** A version about to be unregistered. */
  readonly leaving?: ModelVersion;
}

export class DurableView {
  /** Registrations not yet acknowledged (their workers are still starting). */
  readonly unsettled = new WeakSet<ModelVersion>();
  pending: PendingChange = {};

  /** The settings a snapshot records for `version`, or undefined when it is left out. */
  settingsOf(version: ModelVersion): VersionSettings | undefined {
    if (this.unsettled.has(version) || this.pending.leaving === version) return undefined;
    const scaled = this.pending.scaled;
    if (scaled?.version === version) return Object.freeze({ ...version.settings, minWorkers: scaled.min, maxWorkers: scaled.max });
    return version.settings;
  }
}

/** The error a client gets when its change could not be persisted; `undone` says what happened instead. */
export function snapshotFailed(error: unknown, undone: string): KilnError {
  // The fs error under KILN_IO_WRITE_FAILED gives the short reason (no space left on device),
  // without the server's paths.
  const cause = isKilnError(error) && error.cause !== undefined ? error.cause : error;
  return new KilnError('KILN_SERVE_SNAPSHOT_FAILED', `Cannot write the config snapshot: ${ioReason(cause)}; ${undone}.`, { cause: error });
}
