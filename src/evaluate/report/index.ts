/**
 * The quantization report: a self-contained HTML page with SVG charts (size, latency at batch 1
 * and 8, accuracy or fidelity, per-layer SQNR, fusion) and the same figures as JSON.
 */
export { renderReport } from './html.js';
export { barChart, columnChart, escapeXml, niceCeiling, scatterChart, type Series } from './svg.js';
export { reportJsonPath, writeReport } from './write.js';
export * from './types.js';
