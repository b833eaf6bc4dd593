/**
 * kiln's public API. Import from here (or a layer's own index) rather than from inner files:
 * what is exported here is what the project keeps stable.
 */
export * from './core/index.js';
export * from './onnx/index.js';
export * from './runtime/index.js';
export * from './evaluate/index.js';
export * from './quantize/index.js';
export { defineHandler, PredictionError } from './handlers/types.js';
export type { Handler, HandlerContext, HandlerSteps, RequestInput } from './handlers/types.js';
