#!/usr/bin/env node
// `npm run build`, second step: the files of src/ that tsc does not emit (the OIP gRPC .proto)
// go beside the compiled modules that read them by a relative URL.
import { copyFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, extname, join, relative } from 'node:path';

const SRC = new URL('../src/', import.meta.url).pathname;
const DIST = new URL('../dist/', import.meta.url).pathname;
const ASSETS = new Set(['.proto']);

function copyAssets(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) copyAssets(path);
    else if (ASSETS.has(extname(name))) {
      const target = join(DIST, relative(SRC, path));
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(path, target);
    }
  }
}
copyAssets(SRC);
