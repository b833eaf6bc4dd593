import { createRequire } from 'node:module';

/** kiln's version, from package.json: the one place it is written. */
export const KILN_VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
