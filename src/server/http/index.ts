/**
 * The HTTP layer shared by every kiln port: request bodies and their TorchServe decoding,
 * responses with TorchServe's wire conventions, and a small router.
 */
export { readBody, discardBody, decodeInferenceInput, parseQuery } from './request-body.js';
export { answerClientError, clientErrorOf } from './client-error.js';
export type { ReadBodyOptions, DecodeInputOptions } from './request-body.js';
export { sendBody, sendJson, sendStatus, sendError, startStream, notFound, methodNotAllowed } from './response.js';
export type { CorsConfig, ResponseContext, SendBodyOptions } from './response.js';
export { Router, route } from './router.js';
export type { Route, RouteHandler, RouteMatch, RouteParams, PathParams } from './router.js';
