import { randomUUID } from 'node:crypto';
import type { Manifest } from '../archive/manifest.js';
import type { Logger } from '../core/log.js';
import { encodeResult } from './encode.js';
import type { HandlerContext, ResponseSettings, SystemProperties } from './types.js';

/** What stays the same for every batch a worker handles. */
export interface ModelContextInit {
  readonly manifest: Manifest;
  /** The name the model is registered under (it may differ from the manifest's). */
  readonly modelName?: string;
  readonly modelDir: string;
  readonly modelPath: string | undefined;
  readonly modelYamlConfig: Readonly<Record<string, unknown>>;
  readonly systemProperties: SystemProperties;
  readonly logger: Logger;
  /** Workers the version was started with. @defaultValue 1 */
  readonly workers?: number;
}

/** One request's metadata: its id and HTTP headers (names lower-cased). */
export interface RequestMeta {
  readonly id?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Receives intermediate (streamed) results; without it they are refused. */
  readonly onIntermediate?: (body: Uint8Array, settings: Readonly<ResponseSettings>) => void;
}

type ResolvedRequest = Required<Omit<RequestMeta, 'onIntermediate'>> & Pick<RequestMeta, 'onIntermediate'>;

/** The context of one batch; see {@link HandlerContext}. */
export class BatchContext implements HandlerContext {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly manifest: Manifest;
  readonly modelDir: string;
  readonly modelPath: string | undefined;
  readonly modelYamlConfig: Readonly<Record<string, unknown>>;
  readonly systemProperties: SystemProperties;
  readonly logger: Logger;
  readonly workers: number;
  readonly #requests: readonly ResolvedRequest[];
  readonly #responses: ResponseSettings[];

  constructor(model: ModelContextInit, requests: readonly RequestMeta[]) {
    this.manifest = model.manifest;
    this.modelName = model.modelName ?? model.manifest.model.modelName;
    this.modelVersion = model.manifest.model.modelVersion;
    this.modelDir = model.modelDir;
    this.modelPath = model.modelPath;
    this.modelYamlConfig = model.modelYamlConfig;
    this.systemProperties = model.systemProperties;
    this.workers = model.workers ?? 1;
    this.#requests = requests.map((request) => ({
      id: request.id ?? randomUUID(),
      headers: Object.fromEntries(Object.entries(request.headers ?? {}).map(([key, value]) => [key.toLowerCase(), value])),
      ...(request.onIntermediate ? { onIntermediate: request.onIntermediate } : {}),
    }));
    // Every line a handler logs for this batch names the requests it serves.
    this.logger = requests.length > 0 ? model.logger.child({ requestIds: this.#requests.map((request) => request.id) }) : model.logger;
    this.#responses = requests.map(() => ({ headers: {} }));
  }

  get batchSize(): number {
    return this.#requests.length;
  }

  #request(index: number): ResolvedRequest {
    const request = this.#requests[index];
    if (!request) throw new RangeError(`request index ${index} is outside this batch of ${this.#requests.length}`);
    return request;
  }

  getRequestId(index: number): string {
    return this.#request(index).id;
  }

  getRequestHeader(index: number, name: string): string | undefined {
    return this.#request(index).headers[name.toLowerCase()];
  }

  getAllRequestHeaders(index: number): Readonly<Record<string, string>> {
    return { ...this.#request(index).headers };
  }

  setResponseStatus(index: number, status: number, phrase?: string): void {
    this.#request(index);
    if (!Number.isInteger(status) || status < 100 || status > 599) throw new RangeError(`status ${status} is not an HTTP status`);
    this.#responses[index]!.status = status;
    if (phrase !== undefined) this.#responses[index]!.phrase = phrase;
  }

  setResponseContentType(index: number, contentType: string): void {
    this.#request(index);
    if (/[\r\n\0]/.test(contentType)) throw new RangeError('the content type contains a line break or NUL');
    this.#responses[index]!.contentType = contentType;
  }

  setResponseHeader(index: number, name: string, value: string): void {
    this.#request(index);
    // Checked here, where the handler's stack still points at the culprit, not later in HTTP code.
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) throw new RangeError(`'${name}' is not a valid HTTP header name`);
    if (/[\r\n\0]/.test(value)) throw new RangeError(`the value of header '${name}' contains a line break or NUL`);
    this.#responses[index]!.headers[name] = value;
  }

  responseSettings(index: number): Readonly<ResponseSettings> {
    this.#request(index);
    return this.#responses[index]!;
  }

  sendIntermediateResponse(index: number, value: unknown): void {
    const request = this.#request(index);
    if (!request.onIntermediate) throw new RangeError(`request ${index} cannot receive intermediate responses here`);
    const settings = this.#responses[index]!;
    request.onIntermediate(encodeResult(value, index).body, { ...settings, headers: { ...settings.headers } });
  }
}
