/**
 * sharp, loaded through its CommonJS build. sharp 0.35 ships an ES module build and a CommonJS
 * one over the same native addon; under Node 20 the CommonJS one loads in ≈ 33 ms against
 * 56–73 ms for the ES modules (measured 2026-12-04), time every handler thread pays before its
 * first model is served. kiln's modules take sharp from here, so one copy of its code runs.
 */
import { createRequire } from 'node:module';
import type SharpFactory from 'sharp';

export type { OutputInfo, Sharp } from 'sharp';

export const sharp: typeof SharpFactory = createRequire(import.meta.url)('sharp') as typeof SharpFactory;
