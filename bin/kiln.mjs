#!/usr/bin/env node
// The kiln command. It runs the TypeScript sources through tsx's loader, so a fresh
// `npm install` needs no build step.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli/main.ts');
process.exitCode = await runCli(process.argv.slice(2));
