/**
 * A project that depends on the packed kiln tarball, pinned to this repository's lockfile: its
 * package-lock.json is kiln's own, cut down to kiln's runtime dependencies, so `npm ci` installs
 * exactly the versions kiln was tested with, and `npm ci --offline` takes every tarball from the
 * npm cache that installed this checkout. The packaging test installs one; `npm run
 * image:context` makes one the container build installs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

type LockEntry = Record<string, unknown>;

/**
 * Writes `package.json` and `package-lock.json` into `dir` (which must exist) for a project
 * depending on the kiln tarball at `tarball`, a path relative to `dir`.
 */
export function writeConsumerProject(repo: string, dir: string, tarball: string, name = 'kiln-consumer'): void {
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const self = lock.packages['']!;
  const spec = `file:${tarball}`;
  const packages: Record<string, LockEntry> = {
    '': { name, dependencies: { kiln: spec } },
    'node_modules/kiln': { version: self['version'], resolved: spec, dependencies: self['dependencies'], bin: self['bin'], engines: self['engines'] },
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path !== '' && !entry['dev'] && !entry['devOptional'] && !entry['link']) packages[path] = entry;
  }
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name, private: true, type: 'module', dependencies: { kiln: spec } }, null, 2)}\n`);
  writeFileSync(join(dir, 'package-lock.json'), `${JSON.stringify({ name, lockfileVersion: 3, requires: true, packages }, null, 2)}\n`);
}
