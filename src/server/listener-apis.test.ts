import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RequestContext } from './context.js';
import { route, Router } from './http/router.js';
import { resolveAcross, sameListener, type ApiRouter } from './listener-apis.js';

const noop = () => undefined;
const inference = new Router<RequestContext>([route('GET', '/ping', noop), route('POST', '/models/:model/invoke', noop), route('GET', '/shared', noop)]);
const management = new Router<RequestContext>([route('GET', '/models', noop), route(['PUT', 'DELETE'], '/models/:model', noop), route('GET', '/shared', noop)]);
const both: ApiRouter[] = [['inference', inference], ['management', management]];

const outcome = (method: string, url: string) => {
  const { api, resolved } = resolveAcross(both, method, url);
  return 'match' in resolved ? `${api} ${resolved.match.route.pattern}` : `${api} ${(resolved.error as { code: string }).code}`;
};

test('one listener, two APIs: the first router with a route wins, and the request needs that API', () => {
  assert.equal(outcome('GET', '/ping'), 'inference /ping');
  assert.equal(outcome('GET', '/models'), 'management /models');
  assert.equal(outcome('POST', '/models/m/invoke'), 'inference /models/:model/invoke');
  assert.equal(outcome('GET', '/shared'), 'inference /shared');
});

test('no route anywhere: a 405 from any router beats a 404; else the first router answers', () => {
  assert.equal(outcome('POST', '/models/m'), 'management KILN_SERVE_METHOD_NOT_ALLOWED');
  assert.equal(outcome('DELETE', '/ping'), 'inference KILN_SERVE_METHOD_NOT_ALLOWED');
  assert.equal(outcome('GET', '/nowhere'), 'inference KILN_SERVE_RESOURCE_NOT_FOUND');
});

test('sameListener: same scheme, host and port (never port 0), or the same socket', () => {
  const http = (host: string, port: number) => ({ protocol: 'http' as const, host, port });
  assert.equal(sameListener(http('0.0.0.0', 8085), http('0.0.0.0', 8085)), true);
  assert.equal(sameListener(http('0.0.0.0', 8085), http('0.0.0.0', 8081)), false);
  assert.equal(sameListener(http('127.0.0.1', 8085), http('0.0.0.0', 8085)), false);
  assert.equal(sameListener(http('127.0.0.1', 0), http('127.0.0.1', 0)), false);
  assert.equal(sameListener(http('h', 443), { protocol: 'https', host: 'h', port: 443 }), false);
  assert.equal(sameListener({ protocol: 'unix', path: '/s' }, { protocol: 'unix', path: '/s' }), true);
  assert.equal(sameListener({ protocol: 'unix', path: '/s' }, http('h', 1)), false);
});
