import type { ServerMetrics } from '../metrics/registry.js';
import type { RequestContext } from './context.js';
import { sendBody } from './http/response.js';
import { route, Router } from './http/router.js';

/** Names asked for with `?name[]=a&name[]=b` (also `name=a`). */
function requestedNames(url: string): string[] | undefined {
  const query = url.indexOf('?');
  if (query < 0) return undefined;
  const params = new URLSearchParams(url.slice(query + 1));
  const names = [...params.getAll('name[]'), ...params.getAll('name')];
  return names.length > 0 ? names : undefined;
}

/** The metrics API (port 8082): Prometheus text. */
export function metricsRouter(metrics: ServerMetrics): Router<RequestContext> {
  return new Router<RequestContext>([
    route('GET', '/metrics', async (req, res, _params, ctx) => {
      const { contentType, body } = await metrics.render(requestedNames(req.url ?? ''));
      sendBody(res, 200, body, { contentType }, ctx);
    }),
  ]);
}
