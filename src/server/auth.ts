import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { KilnError } from '../core/errors.js';
import { writeFileAtomic } from '../core/fs.js';

/** The key file TorchServe writes in the working directory, and the one `kiln stop` deletes. */
export const KEY_FILE = 'key_file.json';

/** Which key a request needs. */
export type KeyKind = 'inference' | 'management' | 'API';

interface Key {
  value: string;
  expiresAt: number | undefined;
}

/** TorchServe's key format: 6 random bytes, base64url (8 characters). */
function newKey(): string {
  return randomBytes(6).toString('base64url');
}

function authFailed(): KilnError {
  return new KilnError('KILN_SERVE_AUTH_FAILED', 'Token Authorization failed. Token either incorrect, expired, or not provided correctly');
}

/** Equal strings in time that does not depend on where they differ. */
function sameKey(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * TorchServe's token authorization: three keys (inference, management, and the API key that
 * rotates the other two), written to `key_file.json` (mode 0600, atomically) and checked from
 * `Authorization: Bearer <key>` in constant time. Inference and management keys expire after
 * `token_expiration_min`; `GET /token?type=…` with the API key replaces one.
 */
export class TokenAuth {
  readonly path: string;
  readonly #keys: Record<KeyKind, Key>;
  readonly #lifetimeMs: number;

  constructor(directory: string, expirationMin: number) {
    this.path = join(directory, KEY_FILE);
    this.#lifetimeMs = expirationMin * 60_000;
    const now = Date.now();
    this.#keys = {
      inference: { value: newKey(), expiresAt: now + this.#lifetimeMs },
      management: { value: newKey(), expiresAt: now + this.#lifetimeMs },
      API: { value: newKey(), expiresAt: undefined },
    };
    this.#write();
  }

  #write(): void {
    const entry = (key: Key) => ({ key: key.value, 'expiration time': new Date(key.expiresAt!).toISOString() });
    const document = { management: entry(this.#keys.management), inference: entry(this.#keys.inference), API: { key: this.#keys.API.value } };
    // writeFileAtomic creates the temp file with 'wx' and the default umask; the key file must be 0600.
    writeFileAtomic(this.path, [new TextEncoder().encode(`${JSON.stringify(document, null, 2)}\n`)], { mode: 0o600 });
  }

  /** Throws TorchServe's 400 InvalidKeyException unless the request carries the valid `kind` key. */
  check(req: IncomingMessage, kind: KeyKind, now = Date.now()): void {
    const match = /^Bearer\s+(\S+)$/.exec(req.headers.authorization ?? '');
    const key = this.#keys[kind];
    if (!match || !sameKey(match[1]!, key.value) || (key.expiresAt !== undefined && now > key.expiresAt)) throw authFailed();
  }

  /** Replaces the inference or management key and renews its expiry (`GET /token?type=`). */
  rotate(kind: string | undefined): void {
    if (kind !== 'inference' && kind !== 'management') {
      throw new KilnError('KILN_SERVE_BAD_REQUEST', `Parameter type must be inference or management, got '${kind ?? ''}'.`);
    }
    this.#keys[kind] = { value: newKey(), expiresAt: Date.now() + this.#lifetimeMs };
    this.#write();
  }

  /** Deletes the key file (on stop). */
  remove(): void {
    rmSync(this.path, { force: true });
  }
}
