import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkName, KILN_RUNTIME } from '../archive/manifest.js';
import { KilnError } from '../core/errors.js';
import { boundProblem, SETTING_BOUNDS } from '../core/serving-limits.js';
import { REGISTER_PARAMS, SCALE_PARAMS, SETTING_PARAMS, WORKFLOW_REGISTER_PARAMS, type SettingParam } from '../core/serving-settings.js';
import { customizedMetadata } from '../serving/describe.js';
import type { RegisterOptions } from '../serving/registry.js';
import type { RequestContext } from './context.js';
import { parseQuery, readBody } from './http/request-body.js';
import { methodNotAllowed, sendBody, sendJson, sendStatus } from './http/response.js';
import { route, Router } from './http/router.js';
import { withApiDescription } from './openapi.js';

type Params = Record<string, string>;

function badRequest(message: string): KilnError {
  return new KilnError('KILN_SERVE_BAD_REQUEST', message);
}

/** A value as an error message may echo it: bounded, never a whole hostile parameter. */
function shown(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/**
 * An integer parameter within its bound. TorchServe silently serves with a default instead of
 * garbage (`batch_size=dd` → 1) and answers 200, so a typo changes how the model is served
 * unseen; kiln answers 400 (docs/server.md, deliberate differences).
 */
function intParam(params: Params, name: string): number | undefined {
  const text = params[name];
  if (text === undefined || text === '') return undefined;
  const setting = SETTING_PARAMS.get(name)!;
  const { min, max, unit } = SETTING_BOUNDS[setting];
  if (!/^-?\d+$/.test(text) || boundProblem(setting, Number(text)) !== undefined) {
    throw badRequest(`Parameter ${name} must be an integer from ${min} to ${max}${unit ? ` (${unit})` : ''}, got '${shown(text)}'.`);
  }
  return Number(text);
}

/** A model or workflow name parameter, checked against TorchServe's rule before anything is fetched. */
function nameParam(params: Params, name: 'model_name' | 'workflow_name'): string | undefined {
  const value = params[name];
  if (!value) return undefined;
  checkName(name === 'model_name' ? 'model name' : 'workflow name', value, `Parameter ${name}`);
  return value;
}

/**
 * A boolean parameter read as TorchServe reads it (Java's `Boolean.parseBoolean`): `true` in any
 * case is true, anything else given (`false`, `False`, `-1`, `nan`, empty) is false. Lenient on
 * purpose: a wrong value only decides whether the answer waits (200) or not (202), which the
 * client sees in the status.
 */
function boolParam(params: Params, name: string): boolean | undefined {
  const text = params[name];
  return text === undefined ? undefined : text.toLowerCase() === 'true';
}

/** `runtime`: TorchServe takes python, python3 or LSP; kiln runs only its own handlers. */
function checkRuntime(params: Params): void {
  const runtime = params['runtime'];
  if (runtime === undefined || runtime === KILN_RUNTIME) return;
  throw badRequest(`Invalid RuntimeType value: ${shown(runtime)} (kiln runs '${KILN_RUNTIME}' handlers only)`);
}

/** Query parameters, or a JSON object body when the request says `application/json`. */
async function registrationParams(req: IncomingMessage, ctx: RequestContext): Promise<Params> {
  const query = parseQuery(req.url ?? '');
  if (!(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) return query;
  const body = await readBody(req, { maxBytes: ctx.settings.maxRequestSize });
  if (body.length === 0) return query;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw badRequest('Invalid JSON body.');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw badRequest('The JSON body must be an object.');
  return { ...query, ...Object.fromEntries(Object.entries(parsed).map(([key, value]) => [key, String(value)])) };
}

function requireModelApi(ctx: RequestContext): void {
  if (!ctx.settings.enableModelApi) throw methodNotAllowed();
}

async function register(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
  requireModelApi(ctx);
  const params = await registrationParams(req, ctx);
  const url = params['url'];
  // An empty url too: TorchServe's REST answers 404 "empty url", its gRPC API INVALID_ARGUMENT.
  if (!url) throw badRequest('Parameter url is required.');
  checkRuntime(params);
  const options: RegisterOptions = {
    url,
    ...optional('modelName', nameParam(params, 'model_name')),
    ...optional('handler', params['handler'] || undefined),
    ...settingParams(params, REGISTER_PARAMS),
    synchronous: boolParam(params, 'synchronous') ?? true,
  };
  const outcome = await ctx.registry.register(options);
  if (outcome.status === 'accepted') {
    sendStatus(res, 202, 'Processing worker updates...', ctx);
  } else if (outcome.workers === 0) {
    sendStatus(res, 200, `Model "${outcome.name}" Version: ${outcome.version} registered with 0 initial workers. Use scale workers API to add workers for the model.`, ctx);
  } else {
    sendStatus(res, 200, `Model "${outcome.name}" Version: ${outcome.version} registered with ${outcome.workers} initial workers`, ctx);
  }
}

/** The setting parameters given, as registration options (the settings table names both). */
function settingParams(params: Params, known: readonly SettingParam[]): Record<string, number> {
  return Object.assign({}, ...known.map(({ param, option }) => optional(option, intParam(params, param)))) as Record<string, number>;
}

function optional<T>(key: string, value: T | undefined): Record<string, T> {
  return value === undefined ? {} : { [key]: value };
}

async function scale(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, model: string, version: string | undefined): Promise<void> {
  const params = parseQuery(req.url ?? '');
  const min = intParam(params, 'min_worker') ?? 1;
  const max = intParam(params, 'max_worker') ?? min;
  // TorchServe checks this before looking the model up.
  if (max < min) throw badRequest('max_worker cannot be less than min_worker.');
  const synchronous = boolParam(params, 'synchronous') ?? false;
  const result = await ctx.registry.scale(model, version ?? params['model_version'], min, max, synchronous);
  if (result === 'accepted') sendStatus(res, 202, 'Processing worker updates...', ctx);
  else sendStatus(res, 200, `Workers scaled to ${min} for model: ${model}${version ? `, version: ${version}` : ''}`, ctx);
}

/**
 * `GET /models/{m}[/{v}|/all]`; with `customized=true` (not for `all`, as in TorchServe) a worker
 * adds its handler's `customizedMetadata`.
 */
async function describe(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, model: string, version: string | undefined): Promise<void> {
  const customized = boolParam(parseQuery(req.url ?? ''), 'customized') ?? false;
  if (!customized || version === 'all') {
    sendJson(res, 200, ctx.registry.describe(model, version), ctx);
    return;
  }
  const metadata = await customizedMetadata(ctx.registry.version(model, version));
  // Described after the worker answered, as TorchServe does: the figures are current.
  const descriptions = ctx.registry.describe(model, version);
  sendJson(res, 200, metadata === undefined ? descriptions : descriptions.map((entry) => ({ ...entry, customizedMetadata: metadata })), ctx);
}

/** `limit` and `next_page_token` as TorchServe reads them: out-of-range values fall back. */
function pageParams(req: IncomingMessage): { limit: number; token: number } {
  const params = parseQuery(req.url ?? '');
  let limit = Number.parseInt(params['limit'] ?? '100', 10);
  if (!Number.isFinite(limit) || limit > 100 || limit < 0) limit = 100;
  let token = Number.parseInt(params['next_page_token'] ?? '0', 10);
  if (!Number.isFinite(token) || token < 0) token = 0;
  return { limit, token };
}

async function registerWorkflow(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
  requireModelApi(ctx);
  const params = await registrationParams(req, ctx);
  const url = params['url'];
  if (!url) throw badRequest('Parameter url is required.');
  const name = await ctx.workflows.register({
    url,
    ...optional('workflowName', nameParam(params, 'workflow_name')),
    ...settingParams(params, WORKFLOW_REGISTER_PARAMS),
  });
  sendStatus(res, 200, `Workflow ${name} has been registered and scaled successfully.`, ctx);
}

// What each route tells the API description (OPTIONS /, /api-description; see openapi.ts).
const PAGE = { limit: 'Page size, at most 100.', next_page_token: 'Where the page starts.' };
/** Each setting parameter's description, from the settings table. */
const paramDocs = (known: readonly SettingParam[]) => Object.fromEntries(known.map(({ param, doc }) => [param, doc]));
const REGISTER = {
  summary: 'Register a model archive (query parameters, or a JSON object body).',
  query: {
    url: 'Archive in the model store, or an allowed URL.',
    model_name: 'Name to register it under.',
    handler: "A handler that replaces the archive's own (a built-in name or a file in the archive).",
    runtime: 'Must be typescript, the one runtime kiln runs.',
    ...paramDocs(REGISTER_PARAMS),
    synchronous: 'Answer once the workers are up (true/false).',
  },
};
const SCALE = {
  summary: 'Scale the workers of the default version or a named one.',
  query: { ...paramDocs(SCALE_PARAMS), synchronous: 'Wait for the workers (true/false).' },
};
const REGISTER_WORKFLOW = {
  summary: 'Register a workflow archive and its models.',
  query: { url: 'Workflow archive (.war) in the model store, or an allowed URL.', workflow_name: 'Name to register it under.', ...paramDocs(WORKFLOW_REGISTER_PARAMS) },
};

/** The management API (port 8081): TorchServe's model and workflow routes. */
export function managementRouter(): Router<RequestContext> {
  return new Router<RequestContext>(withApiDescription('kiln management API', [
    route('GET', '/models', (req, res, _params, ctx) => {
      const { limit, token } = pageParams(req);
      sendJson(res, 200, ctx.registry.list(limit, token), ctx);
    }, { summary: 'List the registered models.', query: PAGE }),
    route('POST', '/models', (req, res, _params, ctx) => register(req, res, ctx), REGISTER),
    route('GET', '/v1/models/:model', (_req, res, { model }, ctx) => {
      sendJson(res, 200, { name: model, ready: ctx.registry.version(model).readyWorkers > 0 }, ctx);
    }, { summary: 'KServe v1 model status: {"name", "ready"}.' }),
    route('GET', '/models/:model/:version?', (req, res, { model, version }, ctx) => describe(req, res, ctx, model, version), {
      summary: 'Describe the default version, a named one, or every one with "all".',
      query: { customized: "true: add the handler's customizedMetadata (not with \"all\")." },
    }),
    route('PUT', '/models/:model/:version/set-default', (_req, res, { model, version }, ctx) => {
      ctx.registry.setDefault(model, version);
      sendStatus(res, 200, `Default version successfully updated for model "${model}" to "${version}"`, ctx);
    }, { summary: 'Make a version the default.' }),
    route('PUT', '/models/:model/:version?', (req, res, { model, version }, ctx) => scale(req, res, ctx, model, version), SCALE),
    route('DELETE', '/models/:model/:version?', async (_req, res, { model, version }, ctx) => {
      requireModelApi(ctx);
      await ctx.registry.unregister(model, version);
      sendStatus(res, 200, `Model "${model}" unregistered`, ctx);
    }, { summary: 'Unregister the default version or a named one.' }),
    // Any method, as TorchServe; the API key (checked by the server from `auth`), else 404.
    route('*', '/token', (req, res, _params, ctx) => {
      if (!ctx.auth) throw new KilnError('KILN_SERVE_RESOURCE_NOT_FOUND', 'Requested resource is not found, please refer to API document.');
      ctx.auth.rotate(parseQuery(req.url ?? '')['type']);
      sendBody(res, 200, '\n', {}, ctx);
    }, { summary: 'With token authorization on: replace the inference or management key (the API key is needed).', methods: ['GET'], query: { type: 'inference or management.' }, auth: 'api' }),
    route('GET', '/workflows', (req, res, _params, ctx) => {
      const { limit, token } = pageParams(req);
      sendJson(res, 200, ctx.workflows.list(limit, token), ctx);
    }, { summary: 'List the registered workflows.', query: PAGE }),
    route('POST', '/workflows', (req, res, _params, ctx) => registerWorkflow(req, res, ctx), REGISTER_WORKFLOW),
    route('GET', '/workflows/:workflow', (_req, res, { workflow }, ctx) => sendJson(res, 200, ctx.workflows.describe(workflow), ctx), { summary: 'Describe a workflow.' }),
    route('DELETE', '/workflows/:workflow', async (_req, res, { workflow }, ctx) => {
      requireModelApi(ctx);
      await ctx.workflows.unregister(workflow);
      sendStatus(res, 200, `Workflow "${workflow}" unregistered`, ctx);
    }, { summary: 'Unregister a workflow and its models.' }),
  ]));
}
