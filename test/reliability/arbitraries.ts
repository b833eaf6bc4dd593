/**
 * fast-check arbitraries for the fuzz suite: each yields one {@link FuzzCase}, the exact bytes of
 * one request and where they go. Families: raw HTTP (any bytes a client could send), multipart
 * bodies, TorchServe JSON and OIP v2 bodies (JSON and binary extension), image bytes for the
 * image classifier, and management query strings. None names a remote URL, and none can remove
 * or rescale the served models (see {@link SERVED}).
 */
import fc from 'fast-check';
import { SERVED } from './fuzz-server.js';

export type Api = 'inference' | 'management' | 'metrics';
export type Family = 'raw' | 'multipart' | 'oip' | 'image' | 'management';

/** One request to send. */
export interface FuzzCase {
  readonly family: Family;
  readonly api: Api;
  /** The method and request target as written (possibly garbage). */
  readonly method: string;
  readonly target: string;
  readonly bytes: Buffer;
  /** For management registrations: the query, to report what was accepted. */
  readonly query?: Record<string, string>;
}

const CRLF = '\r\n';

/** A well-framed request: Host and Content-Length set unless given. */
export function httpRequest(method: string, target: string, headers: ReadonlyArray<readonly [string, string]>, body: Buffer = Buffer.alloc(0)): Buffer {
  const names = new Set(headers.map(([name]) => name.toLowerCase()));
  const all = [...(names.has('host') ? [] : [['Host', '127.0.0.1'] as const]), ...headers, ...(names.has('content-length') || names.has('transfer-encoding') ? [] : [['Content-Length', String(body.length)] as const])];
  return Buffer.concat([Buffer.from(`${method} ${target} HTTP/1.1${CRLF}${all.map(([k, v]) => `${k}: ${v}${CRLF}`).join('')}${CRLF}`, 'latin1'), body]);
}

/** `arbitrary` one time in `oneIn`, else null (fc.option's freq works the other way round). */
function rarely<T>(arbitrary: fc.Arbitrary<T>, oneIn: number): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: oneIn - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary });
}

const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
const ghostName = fc.stringMatching(/^x[a-z0-9]{3,8}$/);
const oddName = fc.constantFrom('..', '%2e%2e', '%2F', 'a%2Fb', '%zz', '%00', '%', '~', 'ma\u0301', '__proto__', 'constructor', '.', ' ', '%20', 'a;b', 'CON', 'x'.repeat(300));

// ---------- raw HTTP ----------

const methods = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'HEAD') },
  { weight: 3, arbitrary: fc.constantFrom('PATCH', 'TRACE', 'CONNECT', 'PRI', 'get', 'SEARCH', 'PROPFIND', 'M-SEARCH', 'PURGE', '') },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Z!#$%&'*+.^_`|~-]{1,12}$/) },
  { weight: 1, arbitrary: bytes(6).map((b) => b.toString('latin1')) },
);

/** Path segments; management targets never name a served model (DELETE or PUT could change it). */
function segment(api: Api): fc.Arbitrary<string> {
  const known = ['ping', 'predictions', 'explanations', 'v2', 'v1', 'models', 'infer', 'ready', 'health', 'live', 'versions', '1.0', 'metrics', 'api-description', 'invocations', 'wfpredict', 'workflows', 'token', 'set-default', 'all', 'predict', 'invoke', 'm:predict'];
  return fc.oneof(fc.constantFrom(...known, ...(api === 'management' ? [] : [...SERVED, '%762', '%6D'])), oddName, ghostName, fc.constant(''));
}

function target(api: Api): fc.Arbitrary<string> {
  const path = fc.array(segment(api), { maxLength: 6 }).map((segments) => `/${segments.join('/')}`);
  const query = fc.array(fc.tuple(fc.constantFrom('model_name', 'url', 'min_worker', 'limit', 'name[]', 'type', 'x', '%zz', ''), fc.constantFrom('1', '-1', '', '%zz', 'ghost', '9'.repeat(30), 'a b')), { maxLength: 4 });
  const origin = fc.tuple(path, fc.option(query)).map(([p, q]) => (q ? `${p}?${q.map(([k, v]) => `${k}=${v}`).join('&')}` : p));
  return fc.oneof(
    { weight: 8, arbitrary: origin },
    { weight: 1, arbitrary: fc.constantFrom('*', '', 'ping', '//', '/../../etc/passwd', '/\u00e9', '/%', 'http://127.0.0.1/ping', 'http://127.0.0.1/v2/models/ghost', 'http://127.0.0.1/v2/models/m/infer', 'http://[::1/', 'https://x:99999/v2', 'mailto:x', `/${'a'.repeat(9000)}`) },
  );
}

const headerPool: fc.Arbitrary<readonly [string, string]> = fc.oneof(
  fc.tuple(fc.constant('Content-Length'), fc.constantFrom('0', '1', '5', '64', '-1', '+3', '0x10', ' 7', '1e3', '99999999999999999999', '18446744073709551616', 'abc', '')),
  fc.tuple(fc.constant('Content-Length'), fc.nat(80).map(String)),
  fc.tuple(fc.constantFrom('Accept', 'User-Agent', 'X-Trace'), fc.stringMatching(/^[ -~]{0,30}$/)),
  fc.tuple(fc.constant('Transfer-Encoding'), fc.constantFrom('chunked', 'gzip', 'gzip, chunked', 'chunked, gzip', 'identity', 'Chunked', 'chunked;x', '')),
  fc.tuple(fc.constant('Content-Type'), fc.constantFrom('application/json', 'text/plain', 'multipart/form-data', 'multipart/form-data; boundary=', 'multipart/form-data; boundary=b', 'application/x-www-form-urlencoded', 'image/png', ';;;', 'application/octet-stream')),
  fc.tuple(fc.constant('Expect'), fc.constantFrom('100-continue', '100-Continue', 'teapot', '')),
  fc.tuple(fc.constant('Connection'), fc.constantFrom('close', 'keep-alive', 'upgrade', 'Upgrade, HTTP2-Settings')),
  fc.tuple(fc.constant('Upgrade'), fc.constantFrom('websocket', 'h2c', 'HTTP/2.0')),
  fc.tuple(fc.constantFrom('Host', 'host', 'HOST'), fc.constantFrom('127.0.0.1', '', 'a b', 'x'.repeat(300), '[::1]:80')),
  fc.tuple(fc.constantFrom('Authorization', 'Inference-Header-Content-Length', 'X-Request-Id', 'Cookie', 'Accept'), fc.constantFrom('Bearer x', '12', '-5', 'abc', '', '\u00ff\u00fe')),
  fc.tuple(fc.stringMatching(/^[A-Za-z0-9-]{1,20}$/), fc.stringMatching(/^[ -~\t]{0,40}$/)),
  { weight: 1, arbitrary: fc.tuple(fc.stringMatching(/^[!-~]{1,20}$/), fc.stringMatching(/^[ -~\t]{0,40}$/)) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('Bad Name', 'X\u0000', '', ':'), fc.constant('v')) },
);

/** A chunked body: valid, or with a bad size, an extension, a missing terminator, trailers. */
const chunkedBody = fc
  .tuple(fc.array(bytes(40), { maxLength: 4 }), fc.constantFrom('ok', 'hex-garbage', 'no-end', 'overlong', 'extension', 'trailer', 'negative'))
  .map(([chunks, flaw]) => {
    const parts = chunks.map((c) => Buffer.concat([Buffer.from(`${flaw === 'overlong' ? (c.length + 5).toString(16) : c.length.toString(16)}${flaw === 'extension' ? `;${'e'.repeat(20000)}` : ''}${CRLF}`), c, Buffer.from(CRLF)]));
    const end = flaw === 'no-end' ? '' : flaw === 'hex-garbage' ? `zz${CRLF}${CRLF}` : flaw === 'negative' ? `-1${CRLF}${CRLF}` : flaw === 'trailer' ? `0${CRLF}X-T: 1${CRLF}${CRLF}` : `0${CRLF}${CRLF}`;
    return Buffer.concat([...parts, Buffer.from(end)]);
  });

/** What is wrong with a raw request: nothing (it reaches a route), or one thing at a time, or several. */
const FLAWS = ['none', 'none', 'none', 'method', 'version', 'headers', 'length', 'chunked', 'cut', 'eol', 'line', 'host', 'all'] as const;

const rawCase: fc.Arbitrary<FuzzCase> = fc
  .tuple(
    fc.constantFrom<Api>('inference', 'inference', 'management', 'metrics'),
    fc.constantFrom(...FLAWS),
    fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTP/1.1 x', 'http/1.1', ''),
    fc.array(headerPool, { maxLength: 5 }),
    fc.oneof(bytes(64), fc.constant(Buffer.alloc(0))),
    chunkedBody,
    fc.constantFrom('\n', '\r', '\r\r\n'),
    fc.nat(),
    fc.constantFrom(`X-Big: ${'b'.repeat(17_000)}`, ' folded continuation', 'NoColon', '\u0000', 'Content-Length: 3'),
    fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'HEAD'),
  )
  .chain(([api, flaw, badVersion, soup, body, chunked, badEol, cut, oddLine, plainMethod]) =>
    fc.tuple(methods, target(api)).map(([oddMethod, path]): FuzzCase => {
      const all = flaw === 'all';
      const method = flaw === 'method' || all ? oddMethod : plainMethod;
      const version = flaw === 'version' || all ? badVersion : 'HTTP/1.1';
      const eol = flaw === 'eol' || all ? badEol : CRLF;
      const headers = [...(flaw === 'host' ? [] : ['Host: 127.0.0.1']), ...(flaw === 'headers' || all ? soup.map(([k, v]) => `${k}: ${v}`) : []), ...(flaw === 'line' || all ? [oddLine] : [])];
      let payload = body;
      if (flaw === 'chunked' || all) {
        headers.push('Transfer-Encoding: chunked');
        payload = chunked;
      } else if (flaw === 'length') {
        headers.push(`Content-Length: ${[body.length + 1 + (cut % 9), Math.max(0, body.length - 1), '-1', 'x', `${body.length}, ${body.length + 1}`][cut % 5]}`);
      } else {
        headers.push(`Content-Length: ${body.length}`);
      }
      let whole = Buffer.concat([Buffer.from(`${method} ${path}${version ? ` ${version}` : ''}${eol}${headers.map((h) => `${h}${eol}`).join('')}${eol}`, 'latin1'), payload]);
      if (flaw === 'cut' || all) whole = whole.subarray(0, cut % (whole.length + 1));
      return { family: 'raw', api, method, target: path, bytes: whole };
    }),
  );

// ---------- multipart ----------

const partHeaders = fc.tuple(
  fc.constantFrom('form-data; name="data"', 'form-data; name="data"; filename="a.jpg"', 'form-data; name="body"', 'form-data; name=data', 'form-data; name="__proto__"', 'form-data', 'attachment; filename="x"', 'form-data; name="a"; filename*=UTF-8\'\'%E2%82%AC', 'form-data; name="', ''),
  fc.option(fc.constantFrom('application/json', 'text/plain; charset=utf-16', 'image/png', 'multipart/mixed; boundary=inner', 'x'), { freq: 2 }),
  fc.array(fc.constantFrom('Content-Transfer-Encoding: base64', 'X-Odd: \u00ff', 'Content-Length: 99', 'NoColonHere', `X-Long: ${'l'.repeat(3000)}`), { maxLength: 2 }),
);

const multipartCase: fc.Arbitrary<FuzzCase> = fc
  .tuple(
    fc.constantFrom('b', 'X', 'kiln-boundary-1234567890', '----', 'b'.repeat(71), 'é'),
    fc.constantFrom('same', 'same', 'other', 'missing', 'quoted', 'empty'),
    fc.array(fc.tuple(partHeaders, fc.oneof(bytes(200), fc.constantFrom('{"a":1}', '{"a":', 'null', '--b', '\r\n--b\r\n')), fc.boolean()), { maxLength: 30 }),
    fc.constantFrom('close', 'close', 'none', 'no-crlf', 'extra-dashes'),
    rarely(fc.nat(), 3),
    fc.constantFrom('m', 'img', 'ghost'),
  )
  .map(([boundary, declared, parts, ending, cut, model]) => {
    const body = Buffer.concat([
      Buffer.from('preamble\r\n'),
      ...parts.map(([[disposition, type, extra], content, bare]) =>
        Buffer.concat([
          Buffer.from(`--${boundary}${bare ? '' : CRLF}${disposition ? `Content-Disposition: ${disposition}${CRLF}` : ''}${type ? `Content-Type: ${type}${CRLF}` : ''}${extra.map((h) => `${h}${CRLF}`).join('')}${CRLF}`, 'utf8'),
          typeof content === 'string' ? Buffer.from(content) : content,
          Buffer.from(CRLF),
        ]),
      ),
      Buffer.from(ending === 'close' ? `--${boundary}--${CRLF}` : ending === 'no-crlf' ? `--${boundary}--` : ending === 'extra-dashes' ? `--${boundary}----x` : ''),
    ]);
    const cutBody = cut === null ? body : body.subarray(0, cut % (body.length + 1));
    const type = { same: `multipart/form-data; boundary=${boundary}`, other: 'multipart/form-data; boundary=zzz', missing: 'multipart/form-data', quoted: `multipart/form-data; boundary="${boundary}"`, empty: 'multipart/form-data; boundary=' }[declared];
    const path = `/predictions/${model}`;
    return { family: 'multipart' as const, api: 'inference' as const, method: 'POST', target: path, bytes: httpRequest('POST', path, [['Content-Type', type]], cutBody) };
  });

// ---------- OIP v2 and TorchServe JSON ----------

const datatype = fc.constantFrom('FP32', 'FP16', 'FP64', 'INT8', 'INT16', 'INT32', 'INT64', 'UINT8', 'UINT64', 'BOOL', 'BYTES', 'BF16', 'fp32', 'FLOAT', '', 'FP32 ');
const dim = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 5 }) }, { weight: 1, arbitrary: fc.constantFrom(-1, 2 ** 31, 2 ** 53, 1e308, 0.5, 3) });
const scalar = fc.oneof(fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.string({ maxLength: 5 }), fc.constant({}), fc.constantFrom(1e39, -0, 2 ** 63));
const data = fc.oneof(
  { weight: 3, arbitrary: fc.array(scalar, { maxLength: 60 }) },
  { weight: 2, arbitrary: fc.array(fc.double({ noNaN: true, min: -10, max: 10 }), { minLength: 48, maxLength: 48 }) },
  { weight: 1, arbitrary: fc.array(fc.array(scalar, { maxLength: 4 }), { maxLength: 4 }) },
  { weight: 1, arbitrary: scalar },
);
const tensor = fc.record(
  {
    name: fc.constantFrom('x', 'y', 'z', '', 'X', '__proto__'),
    shape: fc.oneof({ weight: 3, arbitrary: fc.constant([1, 3, 4, 4]) }, { weight: 3, arbitrary: fc.array(dim, { maxLength: 5 }) }, { weight: 1, arbitrary: fc.constantFrom('1,3', null, [[1]], {}) }),
    datatype,
    data,
    parameters: fc.option(fc.record({ binary_data_size: fc.oneof(fc.nat(300), fc.constantFrom(-1, 1e20, 'x')), classification: fc.oneof(fc.nat(20), fc.constant(-1)) }, { requiredKeys: [] }), { nil: undefined }),
  },
  { requiredKeys: ['name'] },
);
/** A request `m` accepts, with at most one field spoiled. */
const nearlyValid = fc
  .tuple(fc.integer({ min: 1, max: 3 }), fc.constantFrom('none', 'none', 'none', 'name', 'datatype', 'length', 'shape', 'value', 'outputs'), datatype, fc.double())
  .map(([n, spoil, otherType, value]) => {
    const input: Record<string, unknown> = { name: 'x', shape: [n, 3, 4, 4], datatype: 'FP32', data: Array.from({ length: 48 * n }, (_, i) => Math.sin(i)) };
    if (spoil === 'name') input['name'] = 'q';
    if (spoil === 'datatype') input['datatype'] = otherType;
    if (spoil === 'length') input['data'] = (input['data'] as number[]).slice(1);
    if (spoil === 'shape') input['shape'] = [n, 3, 4, 5];
    if (spoil === 'value') (input['data'] as unknown[])[7] = value;
    return JSON.stringify({ inputs: [input], ...(spoil === 'outputs' ? { outputs: [{ name: 'z', parameters: { classification: 3 } }, { name: 'y', parameters: { binary_data: true } }] } : {}) });
  });

const inferJson = fc.oneof(
  { weight: 4, arbitrary: nearlyValid },
  { weight: 6, arbitrary: fc.record({ id: fc.option(fc.oneof(fc.string({ maxLength: 8 }), fc.integer()), { nil: undefined }), inputs: fc.oneof(fc.array(tensor, { maxLength: 3 }), fc.constantFrom(null, {}, 'x')), outputs: fc.option(fc.array(fc.record({ name: fc.constantFrom('y', 'z', 'w', ''), parameters: fc.option(fc.record({ binary_data: fc.oneof(fc.boolean(), fc.constant('yes')), classification: fc.oneof(fc.nat(12), fc.constant(-3)) }, { requiredKeys: [] }), { nil: undefined }) }, { requiredKeys: ['name'] }), { maxLength: 3 }), { nil: undefined }), parameters: fc.option(fc.dictionary(fc.string({ maxLength: 6 }), scalar, { maxKeys: 3 }), { nil: undefined }) }, { requiredKeys: ['inputs'] }).map((value) => JSON.stringify(value)) },
  { weight: 1, arbitrary: fc.constantFrom('', '{', '[]', 'null', '{"inputs": [', '{"inputs": [{"name": "x", "shape": [1,3,4,4], "datatype": "FP32", "data": [1e999]}]}', '\u0000') },
  { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
);

const oipCase: fc.Arbitrary<FuzzCase> = fc
  .tuple(
    fc.constantFrom('m', 'm', 'm', 'img', 'ghost', '%6d', '..'),
    rarely(fc.constantFrom('1.0', '2.0', '..', ''), 4),
    inferJson,
    rarely(fc.tuple(fc.oneof(fc.nat(400), fc.constantFrom(-1, 1e12, 'abc', '')), bytes(300)), 3),
    fc.constantFrom('application/json', 'application/octet-stream', 'text/plain', ''),
    fc.constantFrom('v2', 'v2', 'v2', 'torchserve', 'kserve-v1'),
  )
  .map(([model, version, json, binary, contentType, protocol]) => {
    const path =
      protocol === 'v2' ? `/v2/models/${model}${version === null ? '' : `/versions/${version}`}/infer` : protocol === 'kserve-v1' ? `/v1/models/${model}:predict` : `/predictions/${model}${version === null ? '' : `/${version}`}`;
    const headers: Array<readonly [string, string]> = contentType ? [['Content-Type', contentType]] : [];
    let body = Buffer.from(json, 'utf8');
    if (binary) {
      // The binary extension: a JSON header of (claimed) length, then raw tensor bytes.
      headers.push(['Inference-Header-Content-Length', String(binary[0])]);
      body = Buffer.concat([body, binary[1]]);
    }
    return { family: 'oip' as const, api: 'inference' as const, method: 'POST', target: path, bytes: httpRequest('POST', path, headers, body) };
  });

// ---------- images ----------

function imageCase(samples: readonly Buffer[]): fc.Arbitrary<FuzzCase> {
  return imageCaseFor(samples, '/predictions/img');
}

/** Image bytes (whole, cut, flipped, random, a lying PNG header) sent raw, multipart or as JSON to `path`. */
export function imageCaseFor(samples: readonly Buffer[], path: string): fc.Arbitrary<FuzzCase> {
  const image = fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(...samples) },
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...samples), fc.nat()).map(([s, n]) => s.subarray(0, n % s.length)) },
    {
      weight: 3,
      arbitrary: fc.tuple(fc.constantFrom(...samples), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 8 })).map(([s, flips]) => {
        const copy = Buffer.from(s);
        for (const [at, value] of flips) copy[at % copy.length] = value;
        return copy;
      }),
    },
    { weight: 2, arbitrary: bytes(500) },
    // A PNG signature and IHDR claiming a huge image, with no data behind it.
    { weight: 1, arbitrary: fc.tuple(fc.nat(), fc.nat()).map(([w, h]) => Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), Buffer.from([w >>> 24, w >>> 16, w >>> 8, w, h >>> 24, h >>> 16, h >>> 8, h].map((b) => b & 255)), Buffer.from('08020000000000000000', 'hex')])) },
  );
  return fc.tuple(image, fc.constantFrom('raw', 'raw', 'multipart', 'json-null', 'json-b64'), fc.constantFrom('POST', 'PUT')).map(([bytesOf, how, method]) => {
    if (how === 'multipart') {
      const body = Buffer.concat([Buffer.from(`--b${CRLF}Content-Disposition: form-data; name="data"; filename="x.png"${CRLF}Content-Type: image/png${CRLF}${CRLF}`), bytesOf, Buffer.from(`${CRLF}--b--${CRLF}`)]);
      return { family: 'image' as const, api: 'inference' as const, method, target: path, bytes: httpRequest(method, path, [['Content-Type', 'multipart/form-data; boundary=b']], body) };
    }
    if (how !== 'raw') {
      const json = how === 'json-null' ? '{"data": null}' : JSON.stringify({ data: bytesOf.toString('base64') });
      return { family: 'image' as const, api: 'inference' as const, method, target: path, bytes: httpRequest(method, path, [['Content-Type', 'application/json']], Buffer.from(json)) };
    }
    return { family: 'image' as const, api: 'inference' as const, method, target: path, bytes: httpRequest(method, path, [['Content-Type', 'image/png']], bytesOf) };
  });
}

// ---------- management ----------

const paramValue = fc.oneof(
  fc.constantFrom('0', '1', '2', '-1', '256', '257', '4096', '2147483647', '2147483648', '1e3', '1.5', 'true', 'false', 'True', '', 'NaN', 'Infinity', '0x10', ' 1', '１'),
  fc.integer({ min: -5, max: 1e6 }).map(String),
  fc.string({ maxLength: 6 }),
);
const urlValue = fc.constantFrom('missing.mar', 'spare.mar', '../spare.mar', '%2e%2e/spare.mar', '..%2Fspare.mar', '/etc/passwd', 'file:///etc/passwd', 'http://127.0.0.1:1/x.mar', 'https://example.invalid/a.mar', 'ftp://x/y.mar', '', 'spare', 'spare.mar/', 'm.mar', 'img.mar');
const registerParams = fc.dictionary(
  fc.constantFrom('model_name', 'handler', 'runtime', 'batch_size', 'max_batch_delay', 'synchronous', 'response_timeout', 'startup_timeout', 's3_sse_kms', 'unknown', 'url'),
  fc.oneof(paramValue, fc.constantFrom('spare2', '../x', 'a/b', '%2e%2e', 'x'.repeat(120), 'm', 'img', '-lead', 'ok.name_1')),
  { maxKeys: 6 },
);

const managementCase: fc.Arbitrary<FuzzCase> = fc.oneof(
  // Register: initial_workers is left out (a real registration would start threads).
  fc.tuple(urlValue, registerParams, fc.boolean()).map(([url, params, asJson]) => {
    const query: Record<string, string> = { url, ...params };
    if (query['url'] === undefined) query['url'] = url;
    const encoded = new URLSearchParams(query).toString();
    const path = asJson ? '/models' : `/models?${encoded}`;
    const bytes = asJson ? httpRequest('POST', path, [['Content-Type', 'application/json']], Buffer.from(JSON.stringify(query))) : httpRequest('POST', path, []);
    return { family: 'management' as const, api: 'management' as const, method: 'POST', target: path, bytes, query };
  }),
  // Scale, describe, unregister models that are not served.
  fc.tuple(fc.constantFrom('PUT', 'GET', 'DELETE'), fc.oneof(ghostName, oddName), fc.option(fc.constantFrom('1.0', 'all', '..', 'set-default')), fc.dictionary(fc.constantFrom('min_worker', 'max_worker', 'synchronous', 'timeout', 'model_version', 'customized', 'x'), paramValue, { maxKeys: 4 })).map(([method, name, version, params]) => {
    const path = `/models/${name}${version ? `/${version}` : ''}?${new URLSearchParams(params).toString()}`;
    return { family: 'management' as const, api: 'management' as const, method, target: path, bytes: httpRequest(method, path, []) };
  }),
  // Describe the served models with random query strings (read-only).
  fc.tuple(fc.constantFrom(...SERVED), fc.dictionary(fc.constantFrom('customized', 'limit', 'x'), paramValue, { maxKeys: 2 })).map(([name, params]) => {
    const path = `/models/${name}?${new URLSearchParams(params).toString()}`;
    return { family: 'management' as const, api: 'management' as const, method: 'GET', target: path, bytes: httpRequest('GET', path, []) };
  }),
  // List with paging parameters.
  fc.dictionary(fc.constantFrom('limit', 'next_page_token', 'x'), paramValue, { maxKeys: 3 }).map((params) => {
    const path = `/models?${new URLSearchParams(params).toString()}`;
    return { family: 'management' as const, api: 'management' as const, method: 'GET', target: path, bytes: httpRequest('GET', path, []) };
  }),
);

/** Every family, weighted: raw HTTP most, as it reaches every port and route. */
export function fuzzCase(samples: readonly Buffer[]): fc.Arbitrary<FuzzCase> {
  return fc.oneof(
    { weight: 35, arbitrary: rawCase },
    { weight: 15, arbitrary: multipartCase },
    { weight: 25, arbitrary: oipCase },
    { weight: 10, arbitrary: imageCase(samples) },
    { weight: 15, arbitrary: managementCase },
  );
}
