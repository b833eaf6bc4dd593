/**
 * Which APIs a listener serves, and which of their routes a request takes. TorchServe's KServe
 * config.properties gives inference and management the same address (`:8085`); TorchServe then
 * opens one listener for both, and so does kiln.
 */
import { KilnError } from '../core/errors.js';
import type { ListenAddress } from './config.js';
import type { RequestContext } from './context.js';
import type { Resolution, Router } from './http/router.js';

/** The server's HTTP APIs. */
export type Api = 'inference' | 'management' | 'metrics';

/** An API and its route table, as one listener serves it. */
export type ApiRouter = readonly [Api, Router<RequestContext>];

/**
 * Resolves a request on a listener that serves one or more APIs, tried in order: the first
 * router with a route for it wins (and the request needs that API's key); when none has one, the
 * first router's error (404, 405 or 400) is the answer, unless a later router knows the path with
 * another method (its 405 says more than a 404).
 * @example resolveAcross([['inference', inference], ['management', management]], 'GET', '/models')
 * // { api: 'management', resolved: { match: …, auth: 'port', errors: 'torchserve' } }
 */
export function resolveAcross(routers: readonly ApiRouter[], method: string, url: string): { api: Api; resolved: Resolution<RequestContext> } {
  const resolutions = routers.map(([api, router]) => ({ api, resolved: router.resolve(method, url) }));
  const first = resolutions[0];
  if (!first) throw new KilnError('KILN_CORE_INVALID_ARGUMENT', 'a listener needs at least one router');
  const matched = resolutions.find((entry) => 'match' in entry.resolved);
  if (matched) return matched;
  if (isMethodNotAllowed(first.resolved)) return first;
  return resolutions.find((entry) => isMethodNotAllowed(entry.resolved)) ?? first;
}

function isMethodNotAllowed(resolved: Resolution<RequestContext>): boolean {
  return 'error' in resolved && resolved.error instanceof KilnError && resolved.error.code === 'KILN_SERVE_METHOD_NOT_ALLOWED';
}

/**
 * True when two addresses name one listener: the same scheme, host and port, or the same socket
 * path. Port 0 asks the system for a free port each time, so two of them are two listeners.
 */
export function sameListener(a: ListenAddress, b: ListenAddress): boolean {
  if (a.protocol === 'unix' || b.protocol === 'unix') return a.protocol === 'unix' && b.protocol === 'unix' && a.path === b.path;
  return a.protocol === b.protocol && a.host === b.host && a.port === b.port && a.port !== 0;
}
