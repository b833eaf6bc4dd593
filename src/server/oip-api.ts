/**
 * The Open Inference Protocol v2 (KServe's "V2", Triton's HTTP API) on the inference listener,
 * next to TorchServe's routes (spec oip-v2.md): health, server and model metadata, model
 * readiness, and inference. Requests go through the same registry, queue, batcher and workers
 * as TorchServe's; every error is `{"error": message}` ({@link sendOipError}).
 *
 * The operations themselves are in oip/service.ts, shared with the gRPC service. Inference runs
 * the archive's ONNX model through the `tensor` handler: the request's tensors are decoded and
 * checked here, handed to the handler already decoded, and its outputs come back as a tensor
 * bundle (exact, no JSON) and leave as the requested OIP outputs.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { httpStatusOf, isKilnError, KilnError } from '../core/errors.js';
import type { RequestContext } from './context.js';
import { readBody } from './http/request-body.js';
import { sendBody, sendJson, type ResponseContext } from './http/response.js';
import { route, type Route, type RouteAuth, type RouteHandler, type RouteParams, type RouterScope } from './http/router.js';
import { encodeInferResponse } from './oip/response.js';
import { assertModelReady, assertServerReady, inferenceTarget, labelsOf, modelMetadata, runInference, serverMetadata } from './oip/service.js';

/** The paths the OIP routes own: their errors, and those of unknown paths below, use the OIP body. */
export const OIP_SCOPE: RouterScope = { prefix: '/v2', errors: 'oip' };

/**
 * Sends any thrown value as the OIP error body `{"error": message}`, with the status the error
 * catalogue gives it (400, 404, 405, 413, 500, 503); anything not a KilnError is a 500 whose
 * cause stays in the log.
 */
export function sendOipError(res: ServerResponse, error: unknown, ctx: ResponseContext): void {
  if (res.headersSent || res.writableEnded) {
    res.destroy();
    return;
  }
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  if (!isKilnError(error)) {
    sendJson(res, 500, { error: `Internal server error; see the server log for request ${ctx.requestId}.` }, ctx);
    return;
  }
  const status = httpStatusOf(error);
  sendJson(res, Number.isInteger(status) && status >= 400 && status <= 599 ? status : 500, { error: error.message }, ctx);
}

async function infer(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, model: string, version: string | undefined): Promise<void> {
  // Unknown model or version, or another handler: refused before reading a body for nothing.
  const served = inferenceTarget(ctx.registry, model, version);
  const body = await readBody(req, { maxBytes: ctx.settings.maxRequestSize });
  const header = req.headers['inference-header-content-length'];
  const request = await ctx.oip.decode(body, Array.isArray(header) ? header[0] : header, await served.signature());
  const results = await runInference(
    { registry: ctx.registry, model, served, versionNamed: version !== undefined, requestId: ctx.requestId, started: ctx.started },
    request,
  );
  const encoded = encodeInferResponse({
    modelName: model,
    modelVersion: served.version,
    ...(request.id !== undefined ? { id: request.id } : {}),
    outputs: request.outputs,
    results,
    ...(request.outputs.some((output) => output.classification !== undefined) ? { labels: labelsOf(served) ?? {} } : {}),
  });
  if (encoded.body.byteLength > ctx.settings.maxResponseSize) {
    throw new KilnError('KILN_SERVE_RESPONSE_TOO_LARGE', `Response of ${encoded.body.byteLength} bytes is larger than max_response_size (${ctx.settings.maxResponseSize})`);
  }
  const { 'content-type': contentType, ...headers } = encoded.headers;
  sendBody(res, 200, encoded.body, { headers, ...(contentType ? { contentType } : {}) }, ctx);
}

/**
 * A route that answers only `method`: any other method on its path is the OIP 405 (a route of
 * its own, so the body is OIP's even for methods TorchServe's router would refuse first).
 */
function only(method: string, pattern: string, summary: string, handler: RouteHandler<RequestContext>, auth: RouteAuth = 'port'): Route<RequestContext> {
  return route(
    '*',
    pattern,
    (req, res, params, ctx) => {
      if (req.method !== method) throw new KilnError('KILN_SERVE_METHOD_NOT_ALLOWED', `Method ${req.method} is not allowed on ${pattern}; use ${method}.`);
      return handler(req, res, params as RouteParams, ctx);
    },
    { summary: `OIP v2: ${summary}`, methods: [method], errors: 'oip', auth },
  );
}

const describeModel: RouteHandler<RequestContext> = async (_req, res, { model, version }, ctx) => sendJson(res, 200, await modelMetadata(ctx.registry, model!, version), ctx);

const modelReady: RouteHandler<RequestContext> = (_req, res, { model, version }, ctx) => {
  assertModelReady(ctx.registry, model!, version);
  sendJson(res, 200, { name: model, ready: true }, ctx);
};

const INFER = 'inference (JSON, or binary tensor data after Inference-Header-Content-Length bytes of JSON)';

/** The OIP v2 routes, to be tried before TorchServe's on the inference listener. */
export function oipRoutes(): Route<RequestContext>[] {
  return [
    // Health needs no token: probes carry none.
    only('GET', '/v2/health/live', '200 {"live": true} while the server answers.', (_req, res, _params, ctx) => sendJson(res, 200, { live: true }, ctx), 'none'),
    only('GET', '/v2/health/ready', '200 {"ready": true} when every model with workers has a ready one, else 503.', (_req, res, _params, ctx) => {
      assertServerReady(ctx.registry);
      sendJson(res, 200, { ready: true }, ctx);
    }, 'none'),
    only('GET', '/v2', 'server metadata: name, version, extensions.', (_req, res, _params, ctx) => sendJson(res, 200, serverMetadata(), ctx)),
    only('GET', '/v2/models', 'the names of the registered models.', (_req, res, _params, ctx) =>
      sendJson(res, 200, { models: [...new Set([...ctx.registry.entries()].map((entry) => entry.name))].sort() }, ctx),
    ),
    only('GET', '/v2/models/:model', "model metadata of the default version (the ONNX graph's inputs and outputs).", describeModel),
    only('GET', '/v2/models/:model/versions/:version', 'model metadata of a version.', describeModel),
    only('GET', '/v2/models/:model/ready', 'readiness of the default version: 200 with a ready worker, else 503.', modelReady),
    only('GET', '/v2/models/:model/versions/:version/ready', 'readiness of a version.', modelReady),
    only('POST', '/v2/models/:model/infer', `${INFER} on the default version.`, (req, res, { model }, ctx) => infer(req, res, ctx, model!, undefined)),
    only('POST', '/v2/models/:model/versions/:version/infer', `${INFER} on a version.`, (req, res, { model, version }, ctx) => infer(req, res, ctx, model!, version)),
  ];
}
