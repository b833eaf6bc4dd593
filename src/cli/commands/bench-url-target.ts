/**
 * Where `kiln bench --url` sends its load: the URL, `--protocol`, `--model` and `--model-version`
 * resolved to one inference route. Pure (no I/O), so the rules are unit-tested on their own.
 */
import { KilnError } from '../../core/errors.js';

/** The two inference APIs `kiln bench --url` speaks. */
export type BenchProtocol = 'torchserve' | 'oip';

/** One model's inference route on a running server. */
export interface BenchTarget {
  readonly protocol: BenchProtocol;
  /** `http://host:port`, what the load generator connects to. */
  readonly origin: string;
  /** The inference route's path (and query, if the URL had one). */
  readonly inferPath: string;
  /** OIP only: the model metadata route (`GET /v2/models/{m}[/versions/{v}]`). */
  readonly metadataPath: string;
  readonly model: string;
  readonly version: string | undefined;
}

/** What the user gave: `--url`, and `--protocol` / `--model` / `--model-version` when given. */
export interface BenchTargetOptions {
  readonly url: string;
  readonly protocol?: BenchProtocol | undefined;
  readonly model?: string | undefined;
  readonly version?: string | undefined;
}

const TORCHSERVE_PATH = /^(.*)\/predictions\/([^/]+)(?:\/([^/]+))?$/;
const OIP_PATH = /^(.*)\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(?:\/infer)?$/;

function usage(message: string): KilnError {
  return new KilnError('KILN_CLI_USAGE', message);
}

/** Whichever of the flag and the URL's own value is given; both given must agree. */
function agree(what: string, flag: string | undefined, fromUrl: string | undefined): string | undefined {
  if (flag !== undefined && fromUrl !== undefined && flag !== fromUrl) {
    throw usage(`--${what} '${flag}' disagrees with the URL, which names '${fromUrl}'`);
  }
  return flag ?? fromUrl;
}

/**
 * Resolves the inference route. The URL is either a full route — `…/predictions/M[/V]`
 * (TorchServe) or `…/v2/models/M[/versions/V][/infer]` (OIP), which then also sets the protocol,
 * model and version — or the server's address, whose path (if any) is kept as a prefix (a proxy's
 * mount point) and which then needs `--model`. The protocol defaults to torchserve.
 * @throws KilnError `KILN_CLI_USAGE` for a URL that is not http(s), a missing model, or flags
 * that contradict the URL.
 */
export function resolveBenchTarget(options: BenchTargetOptions): BenchTarget {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw usage(`--url must be an http:// or https:// URL, got '${options.url}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usage(`--url must be an http:// or https:// URL, got '${options.url}'`);
  if (url.username || url.password) throw usage('--url must not carry credentials; send a token with --header "Authorization: Bearer …"');
  const path = url.pathname.replace(/\/+$/, '');
  const torchserve = TORCHSERVE_PATH.exec(path);
  const oip = torchserve ? null : OIP_PATH.exec(path);
  const fromUrl = torchserve ? ('torchserve' as const) : oip ? ('oip' as const) : undefined;
  const match = torchserve ?? oip;
  const protocol = agree('protocol', options.protocol, fromUrl) as BenchProtocol | undefined ?? 'torchserve';
  const model = agree('model', options.model, match ? decodeURIComponent(match[2]!) : undefined);
  const version = agree('model-version', options.version, match?.[3] !== undefined ? decodeURIComponent(match[3]) : undefined);
  if (model === undefined || model === '') {
    throw usage(`give --model NAME, or a URL ending in ${protocol === 'oip' ? '/v2/models/NAME' : '/predictions/NAME'}`);
  }
  const prefix = match ? match[1]! : path;
  const name = encodeURIComponent(model);
  const versioned = version === undefined ? '' : encodeURIComponent(version);
  const metadataPath = `${prefix}/v2/models/${name}${version === undefined ? '' : `/versions/${versioned}`}`;
  const inferPath = (protocol === 'oip' ? `${metadataPath}/infer` : `${prefix}/predictions/${name}${version === undefined ? '' : `/${versioned}`}`) + url.search;
  return { protocol, origin: url.origin, inferPath, metadataPath, model, version };
}
