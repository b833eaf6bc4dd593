#!/usr/bin/env node
// The kiln command from this checkout's TypeScript sources, through tsx's loader: what the tests
// and the docs run, with no build step and never a stale dist/. The installed package's `kiln`
// is dist/cli/bin.js (package.json `bin`), compiled by `npm run build`.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli/main.ts');
process.exitCode = await runCli(process.argv.slice(2));
