export * from './names.js';
export * from './registry.js';
