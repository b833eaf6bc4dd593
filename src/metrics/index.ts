export * from './names.js';
export * from './server-metrics.js';
export * from './system.js';
export * from './torchserve-text.js';
