import type { IncomingMessage, ServerResponse } from 'node:http';
import { KilnError } from '../core/errors.js';
import type { HandlerResponse } from '../handlers/run.js';
import type { RequestContext } from './context.js';
import { decodeInferenceInput, parseQuery, readBody } from './http/request-body.js';
import { sendBody, sendJson, sendStatus, startStream } from './http/response.js';
import type { ResponseSettings } from '../handlers/types.js';
import { route, Router } from './http/router.js';
import { OIP_SCOPE, oipRoutes } from './oip-api.js';
import { withApiDescription } from './openapi.js';

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
  /**
   * KServe v1 (`/v1/models/{m}:predict`): the body is JSON whatever its Content-Type says, as
   * KServe's own server reads it (`curl -d @input.json` sends form encoding).
   */
  readonly kserveV1?: boolean;
}

/** A KServe v1 body parsed as JSON; a body that is not JSON (an image) is decoded as for /predictions. */
async function decodeV1Input(req: IncomingMessage, body: Buffer, ctx: RequestContext): Promise<Record<string, unknown>> {
  const multipart = (req.headers['content-type'] ?? '').toLowerCase().startsWith('multipart/');
  if (ctx.settings.decodeInputRequest && !multipart) {
    try {
      return { body: JSON.parse(body.toString('utf8')) as unknown };
    } catch {
      // not JSON: as any other inference body
    }
  }
  return decodeInferenceInput(req, body, { decodeInputRequest: ctx.settings.decodeInputRequest });
}

async function infer(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, target: Target): Promise<void> {
  // Fail fast on an unknown model or version, before reading a body for nothing.
  ctx.registry.version(target.model, target.version);
  const body = await readBody(req, { maxBytes: ctx.settings.maxRequestSize });
  const decoded = target.kserveV1 ? await decodeV1Input(req, body, ctx) : await decodeInferenceInput(req, body, { decodeInputRequest: ctx.settings.decodeInputRequest });
  const input = { ...(target.query ?? {}), ...decoded };
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
  const envelope = ctx.settings.serviceEnvelope === 'kserve' ? { envelope: 'kserve' as const } : {};
  // Counted once, where every entry point's requests are (serving/metrics-recorder.ts).
  const origin = { arrived: ctx.started, versionNamed: target.version !== undefined };
  const response = await ctx.registry.predict(target.model, target.version, { input, headers, id: ctx.requestId, onIntermediate, transferable: true, ...envelope }, origin);
  if (streaming) res.end(response.body);
  else sendHandlerResponse(res, response, ctx);
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
  // Each node's model request is counted once, as every entry point's are.
  const response = await ctx.workflows.predict(workflow, { input, headers: requestHeaders(req, { explain: 'False' }), id: ctx.requestId }, { counted: true });
  sendHandlerResponse(res, response, ctx, 'application/json');
}

// What each route tells the API description (OPTIONS /, /api-description; see openapi.ts).
const ANY = ['POST', 'PUT', 'GET'];
const OUT = '*/*';
const QUERY_INPUTS = 'Query parameters reach the handler as inputs.';

/** The inference API (port 8080): the Open Inference Protocol v2 routes, then TorchServe's. */
export function inferenceRouter(): Router<RequestContext> {
  return new Router<RequestContext>(withApiDescription('kiln inference API', [
    ...oipRoutes(),
    route('GET', '/ping', (_req, res, _params, ctx) => {
      const healthy = ctx.registry.healthy();
      sendStatus(res, healthy ? 200 : 500, healthy ? 'Healthy' : 'Unhealthy', ctx);
    }, { summary: 'Health: 200 Healthy when every model has its minimum workers, else 500 Unhealthy.', auth: 'none' }),
    route('*', '/predictions/:model/:version?/*rest', (req, res, { model, version, rest }, ctx) =>
      infer(req, res, ctx, { model, version, explain: false, urlPath: rest }),
    { summary: 'Predict (any method); segments after the version reach the handler as header url_path.', methods: ANY, produces: OUT }),
    route('*', '/explanations/:model/:version?', (req, res, { model, version }, ctx) => infer(req, res, ctx, { model, version, explain: true }), {
      summary: 'Explain (any method): the handler sees header explain: True.', methods: ANY, produces: OUT,
    }),
    route('POST', '/v1/models/:action', (req, res, { action }, ctx) => {
      const match = /^(.+):(predict|explain)$/.exec(action);
      if (!match) throw new KilnError('KILN_SERVE_RESOURCE_NOT_FOUND', 'Requested resource is not found, please refer to API document.');
      return infer(req, res, ctx, { model: match[1]!, explain: match[2] === 'explain', kserveV1: true });
    }, { summary: "KServe v1 predict or explain, on the model's default version; with service_envelope=kserve, {\"instances\"} in and {\"predictions\"} out.", segments: { action: ['{model_name}:predict', '{model_name}:explain'] }, produces: OUT }),
    route('GET', '/v1/models', (_req, res, _params, ctx) => {
      sendJson(res, 200, { models: [...new Set([...ctx.registry.entries()].map((entry) => entry.name))].sort() }, ctx);
    }, { summary: 'KServe v1 model list: {"models": [names]}.' }),
    route('GET', '/v1/models/:model', (_req, res, { model }, ctx) => {
      sendJson(res, 200, { name: model, ready: ctx.registry.version(model).readyWorkers > 0 }, ctx);
    }, { summary: 'KServe v1 model status: {"name", "ready"} (ready: the default version has a ready worker).' }),
    route('POST', '/invocations', (req, res, _params, ctx) => {
      const query = parseQuery(req.url ?? '');
      const model = query['model_name'] ?? (ctx.settings.startupModels.length === 1 ? ctx.settings.startupModels[0] : undefined);
      if (!model) throw new KilnError('KILN_SERVE_BAD_REQUEST', 'Parameter model_name is required.');
      return infer(req, res, ctx, { model, explain: false, query });
    }, { summary: `SageMaker-style predict on model_name, or on the only startup model. ${QUERY_INPUTS}`, query: { model_name: 'Model to run.' }, produces: OUT }),
    route('*', '/wfpredict/:workflow', (req, res, { workflow }, ctx) => inferWorkflow(req, res, ctx, workflow), {
      summary: "Run a workflow's DAG; the response is its leaf node's output.", methods: ANY, produces: OUT,
    }),
    route('POST', '/models/:model/invoke', (req, res, { model }, ctx) => infer(req, res, ctx, { model, explain: false }), { summary: 'Predict with the default version.', produces: OUT }),
    route('POST', '/:model/predict', (req, res, { model }, ctx) => infer(req, res, ctx, { model, explain: false, query: parseQuery(req.url ?? '') }), {
      summary: `Predict with the default version. ${QUERY_INPUTS}`, produces: OUT,
    }),
    route('POST', '/:model/:version/predict', (req, res, { model, version }, ctx) =>
      infer(req, res, ctx, { model, version, explain: false, query: parseQuery(req.url ?? '') }),
    { summary: `Predict with a named version. ${QUERY_INPUTS}`, produces: OUT }),
  ]), { scopes: [OIP_SCOPE] });
}
