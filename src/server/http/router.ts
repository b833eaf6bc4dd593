/**
 * A tiny router: a list of compiled path patterns tried in order. Unknown paths throw
 * TorchServe's 404 and known paths asked with another method its 405; there is no implicit
 * OPTIONS or HEAD, so a port answers those only when its route table says so.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { KilnError } from '../../core/errors.js';
import { methodNotAllowed, notFound } from './response.js';

/** Path parameters by name, percent-decoded; optional ones are absent when not in the path. */
export type RouteParams = Readonly<Record<string, string | undefined>>;

type SegmentParams<S extends string> = S extends `:${infer N}?`
  ? { readonly [K in N]?: string }
  : S extends `:${infer N}`
    ? { readonly [K in N]: string }
    : S extends `*${infer N}`
      ? { readonly [K in N]?: string }
      : unknown;

/**
 * The parameters a pattern declares, e.g. `PathParams<'/predictions/:model/:version?'>` is
 * `{ model: string; version?: string }`.
 */
export type PathParams<P extends string> = P extends `${infer Head}/${infer Tail}`
  ? SegmentParams<Head> & PathParams<Tail>
  : SegmentParams<P>;

/** Handles one matched request; a thrown error is the caller's to send. */
export type RouteHandler<C, P = RouteParams> = (
  req: IncomingMessage,
  res: ServerResponse,
  params: P,
  ctx: C,
) => void | Promise<void>;

/**
 * What a route tells its port's API description (`OPTIONS /`, `/api-description`), which is
 * built from the route table so that the two cannot drift apart (see ../openapi.ts).
 */
export interface RouteDoc {
  /** One line: what the route does. */
  readonly summary: string;
  /** Methods to describe when the route answers any method (`'*'`). @defaultValue ['GET', 'POST'] */
  readonly methods?: readonly string[];
  /** Query parameters it reads, name → description. */
  readonly query?: Readonly<Record<string, string>>;
  /**
   * The spellings of a parameter whose segment carries more than the value, e.g.
   * `{ action: ['{model_name}:predict', '{model_name}:explain'] }` for `/v1/models/:action`.
   */
  readonly segments?: Readonly<Record<string, readonly string[]>>;
  /**
   * The body of its errors: TorchServe's `{code, type, message}` or OIP's `{error}`.
   * @defaultValue its router scope's (see {@link RouterOptions}), else 'torchserve'
   */
  readonly errors?: ErrorFormat;
  /**
   * The key it needs when token authorization is on: `port` (the inference or management key,
   * by the port), `api` (the API key: `/token`), `none` (health checks, API descriptions).
   * @defaultValue 'port'
   */
  readonly auth?: RouteAuth;
  /** The content type of a successful answer. @defaultValue 'application/json' */
  readonly produces?: string;
}

/** The error body of a route: TorchServe's `{code, type, message}` or OIP's `{"error"}`. */
export type ErrorFormat = 'torchserve' | 'oip';

/** Which token a route needs when token authorization is on (see {@link RouteDoc.auth}). */
export type RouteAuth = 'port' | 'api' | 'none';

/** A path prefix whose routes, and unknown paths, answer errors in one format (`/v2`: OIP). */
export interface RouterScope {
  readonly prefix: string;
  readonly errors: ErrorFormat;
}

/** Options of a {@link Router}. */
export interface RouterOptions {
  readonly scopes?: readonly RouterScope[];
}

/**
 * What a request resolved to, decided once: its route (or the 404/405/400 it gets instead), the
 * key it needs and the body its errors take. The server applies these; nothing re-reads the URL.
 */
export type Resolution<C> =
  | { readonly match: RouteMatch<C>; readonly auth: RouteAuth; readonly errors: ErrorFormat }
  | { readonly error: unknown; readonly auth: RouteAuth; readonly errors: ErrorFormat };

/**
 * One route. `pattern` is a path of `/`-separated segments: a literal, `:name` (one non-empty
 * segment), `:name?` (an optional segment, only before other optional ones) or, last only,
 * `*name` (all remaining segments joined with `/`, absent when there are none).
 * `method` is one method, a list, or `'*'` for any.
 */
export interface Route<C> {
  readonly method: string | readonly string[];
  readonly pattern: string;
  readonly handler: RouteHandler<C>;
  /** Its entry in the port's API description. */
  readonly doc?: RouteDoc;
}

/**
 * Builds a {@link Route} whose handler sees its params typed from the pattern.
 * @example route('POST', '/predictions/:model/:version?/*rest', (req, res, { model, version, rest }) => ..., { summary: 'Predict' })
 */
export function route<C, P extends string>(
  method: string | readonly string[],
  pattern: P,
  handler: RouteHandler<C, PathParams<P>>,
  doc?: RouteDoc,
): Route<C> {
  // The router fills exactly the names the pattern declares, which is what PathParams<P> says.
  return { method, pattern, handler: handler as RouteHandler<C>, ...(doc ? { doc } : {}) };
}

/** The route, handler and params a request resolved to. */
export interface RouteMatch<C> {
  readonly route: Route<C>;
  readonly handler: RouteHandler<C>;
  readonly params: RouteParams;
}

/** One compiled pattern segment (see {@link Route}). */
export type Segment =
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'param' | 'optional' | 'rest'; readonly name: string };

interface CompiledRoute<C> {
  readonly route: Route<C>;
  readonly methods: ReadonlySet<string> | '*';
  readonly segments: readonly Segment[];
  readonly handler: RouteHandler<C>;
}

/**
 * Routes requests by method and path. Paths are split on `/` and each segment percent-decoded
 * first (as TorchServe's decoder does), so a literal also matches its encoded spelling; a param
 * whose decoded value holds a `/` does not match (only the rest segment may span segments).
 * Trailing slashes are ignored. Malformed percent-encoding is a 400.
 * @example
 * const router = new Router<Ctx>([route('GET', '/ping', ping), route(['POST', 'PUT'], '/predictions/:model', predict)]);
 * await router.dispatch(req, res, ctx);
 */
export class Router<C> {
  readonly #routes: readonly CompiledRoute<C>[];
  readonly #scopes: readonly RouterScope[];
  readonly #errors: ReadonlyMap<Route<C>, ErrorFormat>;

  constructor(routes: readonly Route<C>[], options: RouterOptions = {}) {
    this.#scopes = options.scopes ?? [];
    this.#errors = new Map(routes.map((r) => [r, r.doc?.errors ?? this.#scopeErrors(patternPath(r.pattern))]));
    this.#routes = routes.map((r) => ({ route: r, methods: compileMethods(r.method), segments: compilePattern(r.pattern), handler: r.handler }));
  }

  /** The error format of a path by its scope (the routed path: `/%762/x` is in `/v2`). */
  #scopeErrors(path: string): ErrorFormat {
    return this.#scopes.find((scope) => path === scope.prefix || path.startsWith(`${scope.prefix}/`))?.errors ?? 'torchserve';
  }

  /** The error format of one of its routes: the route's own, else its scope's. */
  errorsOf(route: Route<C>): ErrorFormat {
    return this.#errors.get(route) ?? 'torchserve';
  }

  /**
   * Resolves a request once: its route, the key it needs and the body its errors take. A path
   * no route knows (404), a known path asked with another method (405) or a malformed one (400)
   * resolves to that error, needing the port's key (so a client without one learns nothing of
   * the route table) and answered in its scope's format.
   */
  resolve(method: string, url: string): Resolution<C> {
    try {
      const match = this.match(method, url);
      return { match, auth: match.route.doc?.auth ?? 'port', errors: this.errorsOf(match.route) };
    } catch (error) {
      return { error, auth: 'port', errors: this.#scopeErrors(routedPath(url)) };
    }
  }

  /** The route table, in the order routes are tried. */
  get routes(): readonly Route<C>[] {
    return this.#routes.map((compiled) => compiled.route);
  }

  /** Resolves a method and request target, or throws 404 (no such path) / 405 (wrong method). */
  match(method: string, url: string): RouteMatch<C> {
    const segments = splitPath(url);
    let pathKnown = false;
    for (const candidate of this.#routes) {
      const params = matchSegments(candidate.segments, segments);
      if (params === undefined) continue;
      pathKnown = true;
      if (candidate.methods === '*' || candidate.methods.has(method.toUpperCase())) return { route: candidate.route, handler: candidate.handler, params };
    }
    throw pathKnown ? methodNotAllowed() : notFound();
  }

  /** Matches `req` and runs its handler; errors (the router's 404/405 included) propagate. */
  async dispatch(req: IncomingMessage, res: ServerResponse, ctx: C): Promise<void> {
    const { handler, params } = this.match(req.method ?? 'GET', req.url ?? '/');
    await handler(req, res, params, ctx);
  }
}

/** A pattern as a sample path (each parameter one segment), to find its scope. */
function patternPath(pattern: string): string {
  return `/${compilePattern(pattern).map((segment) => (segment.kind === 'literal' ? segment.text : 'x')).join('/')}`;
}

function compileMethods(method: string | readonly string[]): ReadonlySet<string> | '*' {
  if (method === '*') return '*';
  return new Set((typeof method === 'string' ? [method] : method).map((m) => m.toUpperCase()));
}

/**
 * The segments of a route pattern; throws KILN_CORE_INVALID_ARGUMENT on a malformed one.
 * @example compilePattern('/models/:model/:version?') // literal, param, optional
 */
export function compilePattern(pattern: string): Segment[] {
  const parts = pattern.split('/').filter((part) => part !== '');
  return parts.map((part, index): Segment => {
    const name = /^[:*](\w+)\??$/.exec(part)?.[1];
    if (part.startsWith('*')) {
      if (name === undefined || part.endsWith('?') || index !== parts.length - 1) throw badPattern(pattern, 'a *rest segment must be last');
      return { kind: 'rest', name };
    }
    if (part.startsWith(':')) {
      if (name === undefined) throw badPattern(pattern, `bad parameter "${part}"`);
      return { kind: part.endsWith('?') ? 'optional' : 'param', name };
    }
    return { kind: 'literal', text: part };
  });
}

function badPattern(pattern: string, why: string): KilnError {
  return new KilnError('KILN_CORE_INVALID_ARGUMENT', `Route pattern "${pattern}": ${why}.`);
}

/**
 * The path of a request target as the router sees it: absolute-form reduced to its path, each
 * segment percent-decoded, trailing slashes dropped. Malformed percent-encoding leaves the raw
 * path. Lets callers classify a request (which error body it gets) the way it was routed.
 * @example routedPath('http://h/%762/models') // '/v2/models'
 */
export function routedPath(url: string): string {
  try {
    return `/${splitPath(url).join('/')}`;
  } catch {
    return url.split(/[?#]/, 1)[0]!;
  }
}

/** The decoded path segments of a request target (origin-form, or absolute-form per RFC 9112). */
function splitPath(url: string): string[] {
  let path = url.split(/[?#]/, 1)[0]!;
  if (!path.startsWith('/')) {
    if (!URL.canParse(path)) throw notFound();
    path = new URL(path).pathname;
  }
  const segments = path.split('/').slice(1);
  while (segments.length > 0 && segments[segments.length - 1] === '') segments.pop();
  try {
    return segments.map((segment) => decodeURIComponent(segment));
  } catch (error) {
    throw new KilnError('KILN_SERVE_BAD_REQUEST', 'Malformed percent-encoding in the request path.', { cause: error });
  }
}

function matchSegments(pattern: readonly Segment[], path: readonly string[]): Record<string, string> | undefined {
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  let i = 0;
  for (const segment of pattern) {
    const value = path[i];
    switch (segment.kind) {
      case 'literal':
        if (value !== segment.text) return undefined;
        break;
      case 'param':
        if (!isParamValue(value)) return undefined;
        params[segment.name] = value;
        break;
      case 'optional':
        if (value === undefined) continue;
        if (!isParamValue(value)) return undefined;
        params[segment.name] = value;
        break;
      case 'rest':
        if (i < path.length) params[segment.name] = path.slice(i).join('/');
        return params;
    }
    i += 1;
  }
  return i === path.length ? params : undefined;
}

function isParamValue(value: string | undefined): value is string {
  return value !== undefined && value !== '' && !value.includes('/');
}
