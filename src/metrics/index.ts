export * from './names.js';
export * from './registry.js';
export * from './system.js';
export * from './torchserve-text.js';
