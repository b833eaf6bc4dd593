export * from './bundle.js';
export * from './context.js';
export * from './from-archive.js';
export * from './image.js';
export * from './load.js';
export * from './builtin-handlers.js';
export * from './run.js';
export * from './types.js';
