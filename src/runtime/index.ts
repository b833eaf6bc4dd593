export * from './engine.js';
export * from './feeds.js';
export * from './tensors.js';
