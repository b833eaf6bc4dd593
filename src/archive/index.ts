export * from './extract.js';
export * from './manifest.js';
export * from './model-config.js';
export * from './read.js';
export * from './write.js';
export * from './workflow-archive.js';
export * from './workflow-manifest.js';
export * from './workflow-spec.js';
