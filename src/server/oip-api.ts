/**
 * The Open Inference Protocol v2 (KServe's "V2", Triton's HTTP API) on the inference listener,
 * next to TorchServe's routes (spec oip-v2.md): health, server and model metadata, model
 * readiness, and inference. Requests go through the same registry, queue, batcher and workers
 * as TorchServe's; every error is `{"error": message}` ({@link sendOipError}).
 *
 * Inference runs the archive's ONNX model through the `tensor` handler: the request's tensors
 * are decoded and checked here, handed to the handler already decoded, and its outputs come back
 * as a tensor bundle (exact, no JSON) and leave as the requested OIP outputs. An archive with another handler takes that handler's own request
 * format, so OIP inference refuses it (400) rather than guess.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { httpStatusOf, isKilnError, KilnError } from '../core/errors.js';
import { KILN_VERSION } from '../core/version.js';
import type { HandlerResponse } from '../handlers/run.js';
import { decodeTensorBundle, TENSOR_BUNDLE_TYPE } from '../handlers/tensor-bundle.js';
import { DECODED_TENSORS } from '../handlers/tensor-request.js';
import type { SignatureEntry } from '../onnx/summary.js';
import type { HostTensor } from '../runtime/tensors.js';
import type { ModelVersion } from '../serving/model-version.js';
import type { RequestContext } from './context.js';
import { readBody } from './http/request-body.js';
import { sendBody, sendJson, type ResponseContext } from './http/response.js';
import { route, type Route, type RouteHandler, type RouteParams } from './http/router.js';
import { oipDatatypeOf } from './oip/datatypes.js';
import { encodeInferResponse } from './oip/response.js';

/** True for paths the OIP routes own: their errors use the OIP body. */
export function isOipPath(path: string): boolean {
  return path === '/v2' || path.startsWith('/v2/');
}

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

/** What kiln implements of the protocol's extensions, by Triton's names. */
const EXTENSIONS = ['binary_tensor_data', 'classification'];

/** Triton's platform name for an ONNX model run by onnxruntime. */
const PLATFORM = 'onnxruntime_onnx';

const labelFiles = new WeakMap<ModelVersion, Record<string, string> | undefined>();

/** The archive's `index_to_name.json`, for the classification extension's labels. */
function labelsOf(version: ModelVersion): Record<string, string> | undefined {
  if (!labelFiles.has(version)) {
    const path = join(version.archive.dir, 'index_to_name.json');
    let labels: Record<string, string> | undefined;
    if (existsSync(path)) {
      try {
        const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) labels = Object.fromEntries(Object.entries(parsed).map(([key, value]) => [key, String(value)]));
      } catch {
        labels = undefined;
      }
    }
    labelFiles.set(version, labels);
  }
  return labelFiles.get(version);
}

/** A tensor's metadata as OIP states it: a variable or unknown dim is -1. */
function tensorMetadata(entry: SignatureEntry): { name: string; datatype: string; shape: number[] } {
  return {
    name: entry.name,
    datatype: oipDatatypeOf(entry.type) ?? entry.type.toUpperCase(),
    shape: entry.shape ? entry.shape.map((dim) => (typeof dim === 'number' && dim >= 0 ? dim : -1)) : [-1],
  };
}

function versionsOf(ctx: RequestContext, model: string): string[] {
  return [...ctx.registry.entries()].filter((entry) => entry.name === model).map((entry) => entry.version.version);
}

function notReady(model: string, version: ModelVersion): KilnError {
  return new KilnError('KILN_SERVE_NO_WORKER', `Model ${model} version ${version.version} is not ready: it has no ready worker.`);
}

async function infer(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, model: string, version: string | undefined): Promise<void> {
  // Unknown model or version: 404 before reading a body for nothing.
  const served = ctx.registry.version(model, version);
  const handler = served.archive.manifest.model.handler;
  if (handler !== 'tensor') {
    throw new KilnError(
      'KILN_OIP_REQUEST_INVALID',
      `Model ${model} is served by the '${handler}' handler, which takes its own request format; Open Inference Protocol requests need an archive made with --handler tensor.`,
    );
  }
  const body = await readBody(req, { maxBytes: ctx.settings.maxRequestSize });
  const header = req.headers['inference-header-content-length'];
  const request = await ctx.oip.decode(body, Array.isArray(header) ? header[0] : header, served.signature);
  // The decoded tensors are this request's own: the worker thread may take their memory.
  const response = await ctx.registry.predict(model, served.version, { input: { [DECODED_TENSORS]: request.inputs }, headers: {}, id: ctx.requestId, transferable: true });
  const encoded = encodeInferResponse({
    modelName: model,
    modelVersion: served.version,
    ...(request.id !== undefined ? { id: request.id } : {}),
    outputs: request.outputs,
    results: tensorsFromHandler(response),
    ...(request.outputs.some((output) => output.classification !== undefined) ? { labels: labelsOf(served) ?? {} } : {}),
  });
  if (encoded.body.byteLength > ctx.settings.maxResponseSize) {
    throw new KilnError('KILN_SERVE_RESPONSE_TOO_LARGE', `Response of ${encoded.body.byteLength} bytes is larger than max_response_size (${ctx.settings.maxResponseSize})`);
  }
  const { 'content-type': contentType, ...headers } = encoded.headers;
  sendBody(res, 200, encoded.body, { headers, ...(contentType ? { contentType } : {}) }, ctx);
  ctx.metrics.recordInference({
    model,
    version: served.version,
    versionInUrl: version !== undefined,
    queueMs: response.queueMs,
    inferenceMs: response.inferenceMs,
    totalMs: performance.now() - ctx.started,
  });
}

/** The `tensor` handler's answer to decoded tensors: a tensor bundle. */
function tensorsFromHandler(response: HandlerResponse): Record<string, HostTensor> {
  if (response.settings.contentType !== TENSOR_BUNDLE_TYPE) {
    throw new KilnError('KILN_HANDLER_OUTPUT_INVALID', `The handler answered with ${response.settings.contentType ?? 'no content type'}, not tensors.`);
  }
  return decodeTensorBundle(response.body);
}

/**
 * A route that answers only `method`: any other method on its path is the OIP 405 (a route of
 * its own, so the body is OIP's even for methods TorchServe's router would refuse first).
 */
function only(method: string, pattern: string, handler: RouteHandler<RequestContext>): Route<RequestContext> {
  return route('*', pattern, (req, res, params, ctx) => {
    if (req.method !== method) throw new KilnError('KILN_SERVE_METHOD_NOT_ALLOWED', `Method ${req.method} is not allowed on ${pattern}; use ${method}.`);
    return handler(req, res, params as RouteParams, ctx);
  });
}

const serverMetadata: RouteHandler<RequestContext> = (_req, res, _params, ctx) => sendJson(res, 200, { name: 'kiln', version: KILN_VERSION, extensions: EXTENSIONS }, ctx);

const modelMetadata: RouteHandler<RequestContext> = (_req, res, { model, version }, ctx) => {
  const served = ctx.registry.version(model!, version);
  const signature = served.signature;
  sendJson(
    res,
    200,
    { name: model, versions: versionsOf(ctx, model!), platform: PLATFORM, inputs: signature.inputs.map(tensorMetadata), outputs: signature.outputs.map(tensorMetadata) },
    ctx,
  );
};

const modelReady: RouteHandler<RequestContext> = (_req, res, { model, version }, ctx) => {
  const served = ctx.registry.version(model!, version);
  if (served.readyWorkers === 0) throw notReady(model!, served);
  sendJson(res, 200, { name: model, ready: true }, ctx);
};

/** The OIP v2 routes, to be tried before TorchServe's on the inference listener. */
export function oipRoutes(): Route<RequestContext>[] {
  return [
    only('GET', '/v2/health/live', (_req, res, _params, ctx) => sendJson(res, 200, { live: true }, ctx)),
    only('GET', '/v2/health/ready', (_req, res, _params, ctx) => {
      // Stricter than /ping, which counts a worker still loading: ready means able to answer.
      const waiting = [...ctx.registry.entries()].find(({ version, isDefault }) => isDefault && version.settings.minWorkers > 0 && version.readyWorkers === 0);
      if (waiting) throw new KilnError('KILN_SERVE_NO_WORKER', `Server is not ready: model ${waiting.name} has no ready worker yet.`);
      sendJson(res, 200, { ready: true }, ctx);
    }),
    only('GET', '/v2', serverMetadata),
    only('GET', '/v2/models', (_req, res, _params, ctx) => sendJson(res, 200, { models: [...new Set([...ctx.registry.entries()].map((entry) => entry.name))].sort() }, ctx)),
    only('GET', '/v2/models/:model', modelMetadata),
    only('GET', '/v2/models/:model/versions/:version', modelMetadata),
    only('GET', '/v2/models/:model/ready', modelReady),
    only('GET', '/v2/models/:model/versions/:version/ready', modelReady),
    only('POST', '/v2/models/:model/infer', (req, res, { model }, ctx) => infer(req, res, ctx, model!, undefined)),
    only('POST', '/v2/models/:model/versions/:version/infer', (req, res, { model, version }, ctx) => infer(req, res, ctx, model!, version)),
  ];
}
