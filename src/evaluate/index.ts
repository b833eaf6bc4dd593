export * from './latency.js';
export * from './compare-latency.js';
export * from './fidelity.js';
export * from './text-metrics.js';
