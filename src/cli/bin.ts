#!/usr/bin/env node
// The `kiln` command of the installed package (package.json `bin`), compiled to dist/cli/bin.js.
// In a checkout, bin/kiln.mjs runs the same CLI from the TypeScript sources.
import { runCli } from './main.js';

process.exitCode = await runCli(process.argv.slice(2));
