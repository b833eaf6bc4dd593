export * from './errors.js';
export * from './log.js';
export * from './fs.js';
export * from './random.js';
export * from './version.js';
