/**
 * Each port's OpenAPI 3.0.1 description (`OPTIONS /` and `/api-description`, as TorchServe
 * answers them), built from the port's own route table: a route declares its summary, query
 * parameters and error body ({@link RouteDoc}), and the paths are derived from its pattern, so
 * no route can be served without being described, nor described without being served.
 */
import { KILN_VERSION } from '../core/version.js';
import type { RequestContext } from './context.js';
import { sendJson } from './http/response.js';
import { compilePattern, route, type Route, type RouteDoc } from './http/router.js';

/** Route parameter → the name TorchServe's documents give it. */
const WIRE_PARAM: Readonly<Record<string, string>> = { model: 'model_name', version: 'model_version', workflow: 'workflow_name', rest: 'url_path' };

const PATH_PARAM_HELP: Readonly<Record<string, string>> = {
  model_name: 'Name of the model.',
  model_version: 'Version of the model.',
  workflow_name: 'Name of the workflow.',
  url_path: 'Further path segments, passed to the handler as the url_path header.',
};

/** One operation a route answers: an OpenAPI path template and a method (upper case). */
export interface DescribedOperation {
  readonly path: string;
  readonly method: string;
}

/**
 * The operations a route is described by: its methods (those of `doc.methods` for a `'*'`
 * route) on every path its pattern matches, optional and rest segments giving one path without
 * and one with them.
 * @example describedOperations(route('GET', '/models/:model/:version?', h)) // GET /models/{model_name}, GET /models/{model_name}/{model_version}
 */
export function describedOperations<C>(r: Route<C>): DescribedOperation[] {
  const methods = r.method === '*' ? (r.doc?.methods ?? ['GET', 'POST']) : typeof r.method === 'string' ? [r.method] : r.method;
  return describedPaths(r.pattern, r.doc).flatMap((path) => methods.map((method) => ({ path, method: method.toUpperCase() })));
}

function describedPaths(pattern: string, doc: RouteDoc | undefined): string[] {
  let open: string[][] = [[]];
  const done: string[][] = [];
  for (const segment of compilePattern(pattern)) {
    if (segment.kind === 'literal') {
      open = open.map((parts) => [...parts, segment.text]);
      continue;
    }
    // The path may end before an optional or rest segment.
    if (segment.kind !== 'param') done.push(...open);
    const spellings = doc?.segments?.[segment.name] ?? [`{${WIRE_PARAM[segment.name] ?? segment.name}}`];
    open = open.flatMap((parts) => spellings.map((spelling) => [...parts, spelling]));
  }
  return [...done, ...open].map((parts) => `/${parts.join('/')}`);
}

const jsonError = (schema: Record<string, unknown>) => ({ description: 'Error', content: { 'application/json': { schema } } });
const TORCHSERVE_ERROR = jsonError({
  type: 'object',
  required: ['code', 'type', 'message'],
  properties: { code: { type: 'integer' }, type: { type: 'string' }, message: { type: 'string' } },
});
const OIP_ERROR = jsonError({ type: 'object', required: ['error'], properties: { error: { type: 'string' } } });

function operation(doc: RouteDoc | undefined, path: string): Record<string, unknown> {
  const pathParams = [...path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
    in: 'path',
    name,
    required: true,
    ...(PATH_PARAM_HELP[name!] ? { description: PATH_PARAM_HELP[name!] } : {}),
    schema: { type: 'string' },
  }));
  const queryParams = Object.entries(doc?.query ?? {}).map(([name, description]) => ({ in: 'query', name, description, required: false, schema: { type: 'string' } }));
  return {
    summary: doc?.summary ?? 'Undocumented route.',
    parameters: [...pathParams, ...queryParams],
    responses: {
      '200': { description: 'OK', content: { [doc?.produces ?? 'application/json']: { schema: {} } } },
      default: doc?.errors === 'oip' ? OIP_ERROR : TORCHSERVE_ERROR,
    },
  };
}

/**
 * The OpenAPI 3.0.1 document of a route table. Where two routes describe the same operation,
 * the first (the one the router tries first) describes it.
 */
export function openApiDocument<C>(title: string, routes: readonly Route<C>[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    for (const { path, method } of describedOperations(r)) {
      const item = (paths[path] ??= {});
      item[method.toLowerCase()] ??= operation(r.doc, path);
    }
  }
  return { openapi: '3.0.1', info: { title, version: KILN_VERSION, description: 'kiln: TorchServe-compatible REST API' }, paths };
}

/**
 * `routes` with TorchServe's two description routes in front (`OPTIONS /`, and
 * `/api-description` by any method), both answering the document of the whole table.
 * @example new Router(withApiDescription('kiln metrics API', [route('GET', '/metrics', scrape, { summary: '…' })]))
 */
export function withApiDescription(title: string, routes: readonly Route<RequestContext>[]): Route<RequestContext>[] {
  let document: Record<string, unknown> | undefined;
  const describe = (_req: unknown, res: Parameters<typeof sendJson>[0], _params: unknown, ctx: RequestContext) => {
    document ??= openApiDocument(title, table);
    sendJson(res, 200, document, ctx);
  };
  const table: Route<RequestContext>[] = [
    route('OPTIONS', '/', describe, { summary: "This port's OpenAPI 3.0.1 description.", auth: 'none' }),
    route('*', '/api-description', describe, { summary: "This port's OpenAPI 3.0.1 description (any method).", methods: ['GET'], auth: 'none' }),
    ...routes,
  ];
  return table;
}
