import type { IncomingMessage, ServerResponse } from 'node:http';
import { KilnError } from '../core/errors.js';
import type { HandlerResponse } from '../handlers/run.js';
import type { RequestContext } from './context.js';
import { decodeInferenceInput, parseQuery, readBody } from './http/request-body.js';
import { sendBody, sendJson, sendStatus, startStream } from './http/response.js';
import type { ResponseSettings } from '../handlers/types.js';
import { route, Router } from './http/router.js';
import { oipRoutes } from './oip-api.js';
import { inferenceOpenApi } from './openapi.js';

/** Headers a handler sees, lower-cased, one value each (TorchServe passes them all). */
function requestHeaders(req: IncomingMessage, extra: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return { ...headers, ...extra };
}

function sendHandlerResponse(res: ServerResponse, response: HandlerResponse, ctx: RequestContext, defaultContentType?: string): void {
  if (response.body.byteLength > ctx.settings.maxResponseSize) {
    throw new KilnError('KILN_SERVE_RESPONSE_TOO_LARGE', `Response of ${response.body.byteLength} bytes is larger than max_response_size (${ctx.settings.maxResponseSize})`);
  }
  const { status, phrase, headers } = response.settings;
  const contentType = response.settings.contentType ?? defaultContentType;
  sendBody(res, status ?? 200, response.body, { headers, ...(contentType ? { contentType } : {}), ...(phrase ? { phrase } : {}) }, ctx);
}

interface Target {
  readonly model: string;
  readonly version?: string | undefined;
  readonly explain: boolean;
  readonly urlPath?: string | undefined;
  readonly query?: Record<string, string>;
}

async function infer(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, target: Target): Promise<void> {
  // Fail fast on an unknown model or version, before reading a body for nothing.
  const served = ctx.registry.version(target.model, target.version).version;
  const body = await readBody(req, { maxBytes: ctx.settings.maxRequestSize });
  const input = { ...(target.query ?? {}), ...(await decodeInferenceInput(req, body, { decodeInputRequest: ctx.settings.decodeInputRequest })) };
  const headers = requestHeaders(req, {
    explain: target.explain ? 'True' : 'False',
    ...(target.urlPath ? { url_path: target.urlPath } : {}),
  });
  let streaming = false;
  const onIntermediate = (chunk: Uint8Array, settings: Readonly<ResponseSettings>) => {
    // The first intermediate result fixes the status and headers, as in TorchServe.
    if (!streaming) {
      streaming = true;
      const { status, phrase, contentType, headers: extra } = settings;
      startStream(res, status ?? 200, { headers: extra, ...(contentType ? { contentType } : {}), ...(phrase ? { phrase } : {}) }, ctx);
    }
    res.write(chunk);
  };
  const response = await ctx.registry.predict(target.model, target.version, { input, headers, id: ctx.requestId, onIntermediate, transferable: true });
  if (streaming) res.end(response.body);
  else sendHandlerResponse(res, response, ctx);
  ctx.metrics.recordInference({
    model: target.model,
    version: served,
    versionInUrl: target.version !== undefined,
    queueMs: response.queueMs,
    inferenceMs: response.inferenceMs,
    totalMs: performance.now() - ctx.started,
  });
}

/**
 * `/wfpredict/{w}`: the request, decoded as for predictions, runs through the workflow's DAG.
 * The response is the leaf's (several leaves: one JSON object by node name), sent as
 * `application/json` unless the leaf's handler set its own Content-Type (TorchServe always
 * says JSON).
 */
async function inferWorkflow(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, workflow: string): Promise<void> {
  // Fail fast on an unknown workflow, before reading a body for nothing.
  ctx.workflows.describe(workflow);
  const body = await readBody(req, { maxBytes: ctx.settings.maxRequestSize });
  const input = await decodeInferenceInput(req, body, { decodeInputRequest: ctx.settings.decodeInputRequest });
  const response = await ctx.workflows.predict(workflow, { input, headers: requestHeaders(req, { explain: 'False' }), id: ctx.requestId });
  sendHandlerResponse(res, response, ctx, 'application/json');
}

/** The inference API (port 8080): the Open Inference Protocol v2 routes, then TorchServe's. */
export function inferenceRouter(): Router<RequestContext> {
  const description = (_req: IncomingMessage, res: ServerResponse, _params: unknown, ctx: RequestContext) => sendJson(res, 200, inferenceOpenApi(), ctx);
  return new Router<RequestContext>([
    ...oipRoutes(),
    route('OPTIONS', '/', description),
    route('*', '/api-description', description),
    route('GET', '/ping', (_req, res, _params, ctx) => {
      const healthy = ctx.registry.healthy();
      sendStatus(res, healthy ? 200 : 500, healthy ? 'Healthy' : 'Unhealthy', ctx);
    }),
    route('*', '/predictions/:model/:version?/*rest', (req, res, { model, version, rest }, ctx) =>
      infer(req, res, ctx, { model, version, explain: false, urlPath: rest }),
    ),
    route('*', '/explanations/:model/:version?', (req, res, { model, version }, ctx) => infer(req, res, ctx, { model, version, explain: true })),
    route('POST', '/v1/models/:action', (req, res, { action }, ctx) => {
      const match = /^(.+):(predict|explain)$/.exec(action);
      if (!match) throw new KilnError('KILN_SERVE_RESOURCE_NOT_FOUND', 'Requested resource is not found, please refer to API document.');
      return infer(req, res, ctx, { model: match[1]!, explain: match[2] === 'explain' });
    }),
    route('POST', '/invocations', (req, res, _params, ctx) => {
      const query = parseQuery(req.url ?? '');
      const model = query['model_name'] ?? (ctx.settings.startupModels.length === 1 ? ctx.settings.startupModels[0] : undefined);
      if (!model) throw new KilnError('KILN_SERVE_BAD_REQUEST', 'Parameter model_name is required.');
      return infer(req, res, ctx, { model, explain: false, query });
    }),
    route('*', '/wfpredict/:workflow', (req, res, { workflow }, ctx) => inferWorkflow(req, res, ctx, workflow)),
    route('POST', '/models/:model/invoke', (req, res, { model }, ctx) => infer(req, res, ctx, { model, explain: false })),
    route('POST', '/:model/predict', (req, res, { model }, ctx) => infer(req, res, ctx, { model, explain: false, query: parseQuery(req.url ?? '') })),
    route('POST', '/:model/:version/predict', (req, res, { model, version }, ctx) =>
      infer(req, res, ctx, { model, version, explain: false, query: parseQuery(req.url ?? '') }),
    ),
  ]);
}
