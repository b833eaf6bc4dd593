import type { Manifest } from '../archive/manifest.js';
import type { Logger } from '../core/log.js';

/**
 * One request as the handler sees it, decoded the way TorchServe does: a raw body arrives as
 * `{ body: Uint8Array }`, multipart fields by name (`{ data: Uint8Array }`), JSON parts parsed,
 * text parts as strings.
 */
export type RequestInput = Readonly<Record<string, unknown>>;

/** Values TorchServe passes in `context.system_properties`, under the same names. */
export interface SystemProperties {
  readonly model_dir: string;
  readonly gpu_id: number | null;
  readonly batch_size: number;
  readonly server_name: string;
  readonly server_version: string;
  readonly limit_max_image_pixels: boolean;
}

/** What a handler may set for one request's response. */
export interface ResponseSettings {
  status?: number;
  phrase?: string;
  contentType?: string;
  readonly headers: Record<string, string>;
}

/**
 * The handler's view of its model and of the current batch (TorchServe's `Context`, with
 * camelCase methods). Per-request methods take the request's index in the batch.
 */
export interface HandlerContext {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly manifest: Manifest;
  /** Folder holding the archive's files (read-only for handlers). */
  readonly modelDir: string;
  /** Absolute path of the serialized ONNX model, when the manifest names one. */
  readonly modelPath: string | undefined;
  /** Keys of model-config.yaml that are not server settings (TorchServe's `model_yaml_config`). */
  readonly modelYamlConfig: Readonly<Record<string, unknown>>;
  readonly systemProperties: SystemProperties;
  readonly logger: Logger;
  /** Number of requests in the current batch. */
  readonly batchSize: number;
  /**
   * Workers the model version was started with, each a copy of this handler with its own
   * onnxruntime session. Served engines size their intra-op threads from it (see docs/server.md,
   * "Threads: workers × intra-op threads"). @defaultValue 1 outside the server
   */
  readonly workers: number;
  getRequestId(index: number): string;
  getRequestHeader(index: number, name: string): string | undefined;
  getAllRequestHeaders(index: number): Readonly<Record<string, string>>;
  setResponseStatus(index: number, status: number, phrase?: string): void;
  setResponseContentType(index: number, contentType: string): void;
  setResponseHeader(index: number, name: string, value: string): void;
  /** What the handler set for a request (read by the server when it writes the response). */
  responseSettings(index: number): Readonly<ResponseSettings>;
  /**
   * Streams an intermediate result for one request before the final one (TorchServe's
   * `send_intermediate_predict_response`): the response becomes chunked, with the status and
   * headers set so far. Bytes, strings and JSON values are encoded as final results are.
   */
  sendIntermediateResponse(index: number, value: unknown): void;
}

/**
 * A handler: `initialize` once per worker, then `handle` per batch. A handler built with
 * {@link defineHandler} gets `handle` = preprocess → inference → postprocess; a handler may
 * instead supply its own `handle`. `handle` returns exactly one result per request: bytes
 * (Uint8Array), a string, or a JSON-serializable value.
 */
export interface Handler {
  initialize(context: HandlerContext): Promise<void>;
  handle(requests: readonly RequestInput[], context: HandlerContext): Promise<readonly unknown[]>;
  /** Frees native resources (sessions). Called when the worker stops. */
  close?(): Promise<void>;
  /**
   * Model metadata for `GET /models/{m}?customized=true` (TorchServe's `describe_handle`), run
   * in the worker like a batch. A JSON object becomes `customizedMetadata`; any other JSON value
   * reads as `{}`; undefined or null (and a handler without this hook) leaves the field out.
   */
  describe?(context: HandlerContext): unknown;
  /**
   * Present on handlers that let one batch's first step overlap the previous batch's inference
   * (built with {@link defineHandler} and `overlap: true`): runs `preprocess` and resolves with the
   * rest of the batch (inference → postprocess), which the server starts once the batches ahead
   * have finished. `handle(r, c)` is the same as `(await prepare(r, c))()`.
   */
  prepare?(requests: readonly RequestInput[], context: HandlerContext): Promise<() => Promise<readonly unknown[]>>;
}

/** The steps of a handler, each optional but inference; see {@link defineHandler}. */
export interface HandlerSteps<Batch, Outputs> {
  initialize(context: HandlerContext): Promise<void> | void;
  preprocess(requests: readonly RequestInput[], context: HandlerContext): Promise<Batch> | Batch;
  inference(batch: Batch, context: HandlerContext): Promise<Outputs> | Outputs;
  postprocess(outputs: Outputs, context: HandlerContext): Promise<readonly unknown[]> | readonly unknown[];
  close?(): Promise<void> | void;
  /** See {@link Handler.describe}. */
  describe?(context: HandlerContext): unknown;
  /**
   * Lets the server run this handler's `preprocess` for the next batch while the current batch's
   * `inference` runs, so that decoding (sharp works on libuv's threads) overlaps onnxruntime.
   * Inference and postprocess still run one batch at a time, in arrival order. Set it only when
   * `preprocess` keeps no per-batch state outside what it returns: it may run for several
   * batches at once, alongside another batch's inference or postprocess (a `preprocess` that
   * stores the batch in a closure variable for `postprocess` to read, as a handler running
   * strictly one batch at a time may, would see the next batch's value).
   * @defaultValue false (each batch runs preprocess → inference → postprocess before the next starts)
   */
  readonly overlap?: boolean;
}

/**
 * Assembles a handler from its steps (composition, not a class chain): `handle` runs
 * preprocess → inference → postprocess. With `overlap: true` the handler also gets
 * {@link Handler.prepare}, and the server overlaps batches (see {@link HandlerSteps.overlap}).
 * @example export default defineHandler({ initialize, preprocess, inference, postprocess });
 * @example export default defineHandler({ overlap: true, initialize, preprocess, inference, postprocess });
 */
export function defineHandler<Batch, Outputs>(steps: HandlerSteps<Batch, Outputs>): Handler {
  const prepare = async (requests: readonly RequestInput[], context: HandlerContext) => {
    const batch = await steps.preprocess(requests, context);
    return async () => steps.postprocess(await steps.inference(batch, context), context);
  };
  return {
    async initialize(context) {
      await steps.initialize(context);
    },
    async handle(requests, context) {
      return (await prepare(requests, context))();
    },
    async close() {
      await steps.close?.();
    },
    ...(steps.describe ? { describe: (context: HandlerContext) => steps.describe!(context) } : {}),
    ...(steps.overlap === true ? { prepare } : {}),
  };
}

/**
 * Thrown by a handler to answer a batch with its own message and HTTP status (TorchServe's
 * PredictionException). Any other error thrown becomes 503 "Prediction failed".
 */
export class PredictionError extends Error {
  readonly status: number;

  constructor(message: string, status: number) {
    super(message);
    this.name = 'PredictionError';
    this.status = status;
  }
}
