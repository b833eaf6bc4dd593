export * from './batch-queue.js';
export * from './describe.js';
export * from './model-store.js';
export * from './model-version.js';
export * from './registry.js';
export * from './settings.js';
export * from './snapshot.js';
export * from './worker.js';
