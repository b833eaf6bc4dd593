import { PROMETHEUS_CONTENT_TYPE, type ServerMetrics } from '../metrics/server-metrics.js';
import type { SystemSample, SystemSampler } from '../metrics/system.js';
import type { MetricsTextFormat } from '../metrics/torchserve-text.js';
import type { RequestContext } from './context.js';
import { sendBody } from './http/response.js';
import { route, Router } from './http/router.js';
import { withApiDescription } from './openapi.js';

/** Options of {@link metricsRouter}. */
export interface MetricsApiOptions {
  /** How TorchServe's families are written (`metrics_text_format`). @defaultValue 'torchserve' */
  readonly format?: MetricsTextFormat;
  /** Reads the host for the system families; none with `disable_system_metrics=true`. */
  readonly sampler?: SystemSampler;
}

/** Scrapes closer together than this share one reading (a CPU share over a few ms means little). */
const MIN_SAMPLE_INTERVAL_MS = 1000;

/** Names asked for with `?name[]=a&name[]=b` (also `name=a`). */
function requestedNames(url: string): string[] | undefined {
  const query = url.indexOf('?');
  if (query < 0) return undefined;
  const params = new URLSearchParams(url.slice(query + 1));
  const names = [...params.getAll('name[]'), ...params.getAll('name')];
  return names.length > 0 ? names : undefined;
}

/**
 * Refreshes the system families on scrape rather than on a timer: the CPU share is then the
 * average since the previous scrape, and an idle server reads nothing. TorchServe samples
 * every `metric_time_interval` (60 s); a scraper sees the same families either way.
 */
function systemRefresher(metrics: ServerMetrics, sampler: SystemSampler): (ctx: RequestContext) => Promise<void> {
  let last = Number.NEGATIVE_INFINITY;
  let pending: Promise<SystemSample> | undefined;
  return async (ctx) => {
    if (performance.now() - last < MIN_SAMPLE_INTERVAL_MS) return;
    pending ??= sampler.sample().finally(() => (pending = undefined));
    try {
      metrics.recordSystem(await pending);
      last = performance.now();
    } catch (error) {
      // A host figure that cannot be read must not cost the scrape its other families.
      ctx.logger.warn({ err: error }, 'could not read the system metrics');
    }
  };
}

/** The metrics API (port 8082): Prometheus text. */
export function metricsRouter(metrics: ServerMetrics, options: MetricsApiOptions = {}): Router<RequestContext> {
  const refresh = options.sampler && metrics.config.metricsMode === 'prometheus' ? systemRefresher(metrics, options.sampler) : undefined;
  return new Router<RequestContext>(
    withApiDescription('kiln metrics API', [
      route(
        'GET',
        '/metrics',
        async (req, res, _params, ctx) => {
          await refresh?.(ctx);
          const format = options.format ?? 'torchserve';
          const { contentType, body } = await metrics.render(requestedNames(req.url ?? ''), { format });
          sendBody(res, 200, body, { contentType }, ctx);
        },
        {
          summary: 'Metrics in the Prometheus text format (empty in metrics_mode=log).',
          query: { 'name[]': 'Names of the metric families to return (repeatable); all when absent.' },
          produces: PROMETHEUS_CONTENT_TYPE,
        },
      ),
    ]),
  );
}
