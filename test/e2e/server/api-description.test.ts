/**
 * Each port's `OPTIONS /` and `/api-description` describe exactly the routes its router knows:
 * every operation of every route appears, every described operation reaches the route that
 * describes it, and nothing else is described (issue 15, acceptance 3).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createServerMetrics } from '../../../src/metrics/index.js';
import type { RequestContext } from '../../../src/server/context.js';
import type { Router } from '../../../src/server/http/router.js';
import { inferenceRouter } from '../../../src/server/inference-api.js';
import { managementRouter } from '../../../src/server/management-api.js';
import { metricsRouter } from '../../../src/server/metrics-api.js';
import { describedOperations } from '../../../src/server/openapi.js';
import { call, startServer, type ServerUnderTest } from './harness.js';

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

/** Operations the issue named as missing, and the metrics port's one route. */
const MUST_APPEAR: Record<'inference' | 'management' | 'metrics', readonly string[]> = {
  inference: [
    'POST /models/{model_name}/invoke',
    'POST /{model_name}/predict',
    'POST /{model_name}/{model_version}/predict',
    'POST /explanations/{model_name}/{model_version}',
    'GET /v2/models',
    'GET /v2/models/{model_name}/versions/{model_version}',
    'GET /v2/models/{model_name}/versions/{model_version}/ready',
    'POST /v2/models/{model_name}/versions/{model_version}/infer',
    'POST /v1/models/{model_name}:explain',
    'OPTIONS /',
  ],
  management: ['PUT /models/{model_name}/{model_version}/set-default', 'GET /v1/models/{model_name}', 'DELETE /workflows/{workflow_name}', 'GET /api-description'],
  metrics: ['GET /metrics', 'OPTIONS /', 'GET /api-description'],
};

interface OpenApi {
  openapi: string;
  paths: Record<string, Record<string, { summary?: string; parameters?: { in: string; name: string }[] }>>;
}

function operationsOf(document: OpenApi): Set<string> {
  return new Set(
    Object.entries(document.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((key) => HTTP_METHODS.has(key))
        .map((method) => `${method.toUpperCase()} ${path}`),
    ),
  );
}

describe('API descriptions are complete on all three ports', () => {
  let server: ServerUnderTest;
  const routers: Record<keyof typeof MUST_APPEAR, Router<RequestContext>> = {
    inference: inferenceRouter(),
    management: managementRouter(),
    metrics: metricsRouter(createServerMetrics()),
  };

  before(async () => {
    server = await startServer();
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  for (const port of ['inference', 'management', 'metrics'] as const) {
    test(`${port}: every route the router knows is described, and nothing else`, async () => {
      const base = server[port];
      const options = await call(`${base}/`, { method: 'OPTIONS' });
      const described = await call(`${base}/api-description`);
      assert.equal(options.status, 200, options.text);
      assert.equal(described.status, 200, described.text);
      assert.deepEqual(options.body, described.body);
      const document = described.body as OpenApi;
      assert.equal(document.openapi, '3.0.1');

      const router = routers[port];
      const expected = new Set(router.routes.flatMap((r) => describedOperations(r).map(({ method, path }) => `${method} ${path}`)));
      const live = operationsOf(document);
      assert.deepEqual([...live].filter((op) => !expected.has(op)), [], 'described, but not a route of the router');
      assert.deepEqual([...expected].filter((op) => !live.has(op)), [], 'routes of the router missing from the description');
      for (const op of MUST_APPEAR[port]) assert.ok(live.has(op), `${op} is not described`);

      for (const r of router.routes) assert.ok(r.doc?.summary, `${String(r.method)} ${r.pattern} has no summary`);
      for (const op of live) {
        const [method, path] = op.split(' ') as [string, string];
        // The path reaches, with this method, a route that describes it.
        const concrete = path.replace(/\{(\w+)\}/g, (_, name: string) => `x-${name}`);
        const match = router.match(method, concrete);
        assert.ok(describedOperations(match.route).some((d) => d.method === method && d.path === path), `${op} is answered by ${match.route.pattern}`);
        // Each {param} of the path is declared, and no other path parameter.
        const declared = (document.paths[path]![method.toLowerCase()]!.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
        assert.deepEqual(declared.sort(), [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!).sort(), op);
      }
    });
  }
});
