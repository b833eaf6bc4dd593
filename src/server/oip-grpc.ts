/**
 * The Open Inference Protocol v2 over gRPC (`inference.GRPCInferenceService`, spec oip-v2.md
 * §11): ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata and ModelInfer, over
 * the same operations as the REST routes (oip/service.ts). A ModelInfer request is turned into
 * the REST binary extension's form (its JSON header, then `raw_input_contents` as the tensor
 * bytes), so one codec checks both; outputs always travel as `raw_output_contents`, as Triton
 * sends them. Errors are gRPC statuses: INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE, UNIMPLEMENTED,
 * RESOURCE_EXHAUSTED or INTERNAL where REST says 400, 404, 503, 405/501, 413 or 500.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { httpStatusOf, isKilnError, KilnError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { ModelRegistry } from '../serving/registry.js';
import type { OipDecoder } from './oip/decoder.js';
import { encodeInferResponse } from './oip/response.js';
import { assertModelReady, assertServerReady, inferenceTarget, labelsOf, modelMetadata, runInference, serverMetadata } from './oip/service.js';

/** What the gRPC service needs from the server. */
export interface OipGrpcInit {
  readonly registry: ModelRegistry;
  readonly decoder: OipDecoder;
  readonly maxRequestSize: number;
  readonly maxResponseSize: number;
  readonly logger: Logger;
}

const PROTO = fileURLToPath(new URL('./oip/inference.proto', import.meta.url));

type Parameter = { bool_param?: boolean; int64_param?: string; string_param?: string; double_param?: number; uint64_param?: string; parameter_choice?: string };
type Contents = Partial<Record<'bool_contents' | 'int_contents' | 'int64_contents' | 'uint_contents' | 'uint64_contents' | 'fp32_contents' | 'fp64_contents' | 'bytes_contents', unknown[]>>;

interface GrpcInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, Parameter>;
  inputs: { name: string; datatype: string; shape: string[]; parameters: Record<string, Parameter>; contents?: Contents | null }[];
  outputs: { name: string; parameters: Record<string, Parameter> }[];
  raw_input_contents: Buffer[];
}

/** The contents field each datatype travels in (FP16 has none: raw only). */
const CONTENTS_FIELD: Readonly<Record<string, keyof Contents>> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
};

function invalid(message: string): KilnError {
  return new KilnError('KILN_OIP_REQUEST_INVALID', message);
}

/** An InferParameter as the REST form's plain value (64-bit integers as numbers). */
function parameterValue(parameter: Parameter): unknown {
  switch (parameter.parameter_choice) {
    case 'bool_param':
      return parameter.bool_param;
    case 'string_param':
      return parameter.string_param;
    case 'double_param':
      return parameter.double_param;
    case 'int64_param':
      return Number(parameter.int64_param);
    case 'uint64_param':
      return Number(parameter.uint64_param);
    default:
      return undefined;
  }
}

function parameters(map: Record<string, Parameter> | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(map ?? {}).map(([key, value]) => [key, parameterValue(value)]).filter(([, value]) => value !== undefined));
}

/** A tensor's typed contents as REST `data` (64-bit integers, sent as strings, as numbers; bytes as UTF-8). */
function contentsData(name: string, datatype: string, contents: Contents): unknown[] {
  const field = CONTENTS_FIELD[datatype];
  if (!field) throw invalid(`input '${name}': ${datatype} data must travel in raw_input_contents`);
  const values = contents[field] ?? [];
  if (field === 'bytes_contents') return values.map((value) => Buffer.from(value as Uint8Array).toString('utf8'));
  if (field === 'int64_contents' || field === 'uint64_contents') return values.map((value) => Number(value));
  return values;
}

/**
 * The REST binary extension's form of a ModelInfer request: a JSON header (inputs with `data`
 * from typed contents, or `binary_data_size` for raw contents) and the raw contents after it.
 */
function restForm(request: GrpcInferRequest): { body: Uint8Array; headerLength: string | undefined } {
  const raw = request.raw_input_contents ?? [];
  const hasContents = (input: GrpcInferRequest['inputs'][number]) => !!input.contents && Object.values(input.contents).some((values) => Array.isArray(values) && values.length > 0);
  if (raw.length > 0) {
    if (request.inputs.some(hasContents)) throw invalid('raw_input_contents is set, so no input may also use contents');
    if (raw.length !== request.inputs.length) throw invalid(`${raw.length} raw_input_contents for ${request.inputs.length} inputs (one each, in input order)`);
  }
  const inputs = request.inputs.map((input, index) => ({
    name: input.name,
    datatype: input.datatype,
    shape: input.shape.map(Number),
    parameters: { ...parameters(input.parameters), ...(raw.length > 0 ? { binary_data_size: raw[index]!.length } : {}) },
    ...(raw.length > 0 ? {} : { data: contentsData(input.name, input.datatype, input.contents ?? {}) }),
  }));
  const header = {
    ...(request.id ? { id: request.id } : {}),
    parameters: parameters(request.parameters),
    inputs,
    ...(request.outputs.length > 0 ? { outputs: request.outputs.map((output) => ({ name: output.name, parameters: parameters(output.parameters) })) } : {}),
  };
  const json = Buffer.from(JSON.stringify(header));
  if (raw.length === 0) return { body: json, headerLength: undefined };
  return { body: Buffer.concat([json, ...raw]), headerLength: String(json.length) };
}

/** The gRPC status for an error, from the status REST would give it. */
function grpcStatus(error: unknown): grpc.status {
  if (!isKilnError(error)) return grpc.status.INTERNAL;
  const status = httpStatusOf(error);
  if (status === 404) return grpc.status.NOT_FOUND;
  if (status === 503) return grpc.status.UNAVAILABLE;
  if (status === 405 || status === 501) return grpc.status.UNIMPLEMENTED;
  if (status === 413) return grpc.status.RESOURCE_EXHAUSTED;
  if (status === 408) return grpc.status.DEADLINE_EXCEEDED;
  if (status >= 400 && status < 500) return grpc.status.INVALID_ARGUMENT;
  return grpc.status.INTERNAL;
}

type Handler<Req, Res> = (request: Req) => Res | Promise<Res>;

/** A unary handler: its result is the reply, what it throws the status (logged when internal). */
function unary<Req, Res>(logger: Logger, handle: Handler<Req, Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => handle(call.request))
      .then(
        (reply) => callback(null, reply),
        (error: unknown) => {
          const code = grpcStatus(error);
          if (code === grpc.status.INTERNAL) logger.error({ err: error }, 'gRPC request failed');
          callback({ code, details: isKilnError(error) ? error.message : 'Internal server error; see the server log.' });
        },
      );
  };
}

/** The gRPC listener (on 127.0.0.1 unless `grpc_inference_address` says otherwise). */
export class OipGrpcServer {
  readonly #server: grpc.Server;
  readonly #host: string;
  readonly #port: number;

  private constructor(server: grpc.Server, host: string, port: number) {
    this.#server = server;
    this.#host = host;
    this.#port = port;
  }

  /** Binds `host`:`port` (port 0: a free port) and serves GRPCInferenceService. */
  static async start(host: string, port: number, init: OipGrpcInit): Promise<OipGrpcServer> {
    const definition = protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
    const service = (grpc.loadPackageDefinition(definition)['inference'] as grpc.GrpcObject)['GRPCInferenceService'] as grpc.ServiceClientConstructor;
    const server = new grpc.Server({ 'grpc.max_receive_message_length': init.maxRequestSize, 'grpc.max_send_message_length': init.maxResponseSize });
    const { registry, logger } = init;
    server.addService(service.service, {
      ServerLive: unary(logger, () => ({ live: true })),
      ServerReady: unary(logger, () => {
        assertServerReady(registry);
        return { ready: true };
      }),
      ModelReady: unary(logger, (request: { name: string; version: string }) => {
        assertModelReady(registry, request.name, request.version || undefined);
        return { ready: true };
      }),
      ServerMetadata: unary(logger, () => serverMetadata()),
      ModelMetadata: unary(logger, (request: { name: string; version: string }) => modelMetadata(registry, request.name, request.version || undefined)),
      ModelInfer: unary(logger, (request: GrpcInferRequest) => infer(init, request)),
    });
    const bound = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${hostPort(host, port)}`, grpc.ServerCredentials.createInsecure(), (error, actual) => (error ? reject(error) : resolve(actual))),
    ).catch((error: unknown) => {
      throw new KilnError('KILN_SERVE_CONFIG_INVALID', `cannot listen on ${hostPort(host, port)} for the gRPC inference API: ${(error as Error).message}`, { cause: error });
    });
    return new OipGrpcServer(server, host, bound);
  }

  /** `grpc://<host>:<port>`, e.g. `grpc://127.0.0.1:7070`. */
  get address(): string {
    return `grpc://${hostPort(this.#host, this.#port)}`;
  }

  /** Lets in-flight calls finish (up to `deadlineMs`), then stops. */
  async close(deadlineMs = 10_000): Promise<void> {
    await Promise.race([
      new Promise<void>((resolve) => this.#server.tryShutdown(() => resolve())),
      new Promise<void>((resolve) => setTimeout(resolve, deadlineMs).unref()),
    ]);
    this.#server.forceShutdown();
  }
}

async function infer(init: OipGrpcInit, request: GrpcInferRequest): Promise<unknown> {
  const started = performance.now();
  const model = request.model_name;
  const version = request.model_version || undefined;
  const served = inferenceTarget(init.registry, model, version);
  const { body, headerLength } = restForm(request);
  const decoded = await init.decoder.decode(body, headerLength, await served.signature());
  const results = await runInference(
    { registry: init.registry, model, served, versionNamed: version !== undefined, requestId: request.id || randomUUID(), started },
    decoded,
  );
  // Every output raw, in order: the REST binary layout, split at each output's size.
  const outputs = decoded.outputs.map((output) => ({ ...output, binary: true }));
  const encoded = encodeInferResponse({
    modelName: model,
    modelVersion: served.version,
    outputs,
    results,
    ...(outputs.some((output) => output.classification !== undefined) ? { labels: labelsOf(served) ?? {} } : {}),
  });
  const jsonLength = Number(encoded.headers['inference-header-content-length']);
  const described = JSON.parse(Buffer.from(encoded.body.subarray(0, jsonLength)).toString('utf8')) as { outputs: { name: string; datatype: string; shape: number[]; parameters: { binary_data_size: number } }[] };
  let at = jsonLength;
  const raw = described.outputs.map((output) => {
    const bytes = Buffer.from(encoded.body.subarray(at, at + output.parameters.binary_data_size));
    at += output.parameters.binary_data_size;
    return bytes;
  });
  return {
    model_name: model,
    model_version: served.version,
    id: request.id,
    outputs: described.outputs.map((output) => ({ name: output.name, datatype: output.datatype, shape: output.shape })),
    raw_output_contents: raw,
  };
}

/** `host:port`, an IPv6 host in brackets. */
function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
