/**
 * What a user handler gets from `import … from 'kiln/handler'` once bundled into an archive: the
 * handler contract, the engine to run its model, and kiln's errors. The loader provides this
 * module in place of the real package, so the server and the handler share one copy.
 */
export { defineHandler, PredictionError } from './types.js';
export { settleEach, succeeded } from './request-errors.js';
export type { Handler, HandlerContext, HandlerSteps, RequestInput } from './types.js';
export { KilnError } from '../core/errors.js';
export { Engine } from '../runtime/engine.js';
export { makeFeeds } from '../runtime/feeds.js';
export type { HostTensor } from '../runtime/tensors.js';
