/**
 * onnxruntime-node, loaded with `require`. It is a CommonJS package: imported as an ES module,
 * Node 20 first scans its source for named exports, which made the load ≈ 21 ms against ≈ 13 ms
 * (measured 2026-12-04), paid by every handler thread before its first model. Types come from
 * the package as usual (`import type * as Ort from 'onnxruntime-node'`).
 */
import { createRequire } from 'node:module';
import type * as Ort from 'onnxruntime-node';

export const ort: typeof Ort = createRequire(import.meta.url)('onnxruntime-node') as typeof Ort;
