/**
 * The Open Inference Protocol's operations, transport-free: readiness, metadata and inference
 * against the model registry. The REST routes (oip-api.ts) and the gRPC service (oip-grpc.ts)
 * are two skins over these, so both answer alike.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../../core/errors.js';
import { KILN_VERSION } from '../../core/version.js';
import type { SignatureEntry } from '../../onnx/summary.js';
import type { HostTensor } from '../../runtime/tensors.js';
import type { ModelVersion } from '../../serving/model-version.js';
import type { ModelRegistry } from '../../serving/registry.js';
import { acceptsTensors, inferTensors } from '../../serving/tensor-inference.js';
import { oipDatatypeOf } from './datatypes.js';
import type { InferRequest } from './request.js';

/** What kiln implements of the protocol's extensions, by Triton's names. */
export const OIP_EXTENSIONS: readonly string[] = ['binary_tensor_data', 'classification'];

/** Triton's platform name for an ONNX model run by onnxruntime. */
const PLATFORM = 'onnxruntime_onnx';

/** A tensor's metadata as OIP states it: a variable or unknown dim is -1. */
export interface TensorMetadata {
  readonly name: string;
  readonly datatype: string;
  readonly shape: number[];
}

/** `GET /v2` and ServerMetadata. */
export function serverMetadata(): { name: string; version: string; extensions: string[] } {
  return { name: 'kiln', version: KILN_VERSION, extensions: [...OIP_EXTENSIONS] };
}

/**
 * Throws `KILN_SERVE_NO_WORKER` (503, UNAVAILABLE) unless every model with `minWorkers > 0` has a
 * ready worker. Stricter than /ping, which counts a worker still loading: ready means able to answer.
 */
export function assertServerReady(registry: ModelRegistry): void {
  const waiting = [...registry.entries()].find(({ version, isDefault }) => isDefault && version.settings.minWorkers > 0 && version.readyWorkers === 0);
  if (waiting) throw new KilnError('KILN_SERVE_NO_WORKER', `Server is not ready: model ${waiting.name} has no ready worker yet.`);
}

/** Throws 404 for an unknown model or version, 503 when the version has no ready worker. */
export function assertModelReady(registry: ModelRegistry, model: string, version: string | undefined): void {
  const served = registry.version(model, version);
  if (served.readyWorkers === 0) throw new KilnError('KILN_SERVE_NO_WORKER', `Model ${model} version ${served.version} is not ready: it has no ready worker.`);
}

function tensorMetadata(entry: SignatureEntry): TensorMetadata {
  return {
    name: entry.name,
    datatype: oipDatatypeOf(entry.type) ?? entry.type.toUpperCase(),
    shape: entry.shape ? entry.shape.map((dim) => (typeof dim === 'number' && dim >= 0 ? dim : -1)) : [-1],
  };
}

/** Model metadata from the version's ONNX graph, with every registered version listed. */
export async function modelMetadata(
  registry: ModelRegistry,
  model: string,
  version: string | undefined,
): Promise<{ name: string; versions: string[]; platform: string; inputs: TensorMetadata[]; outputs: TensorMetadata[] }> {
  const signature = await registry.version(model, version).signature();
  const versions = [...registry.entries()].filter((entry) => entry.name === model).map((entry) => entry.version.version);
  return { name: model, versions, platform: PLATFORM, inputs: signature.inputs.map(tensorMetadata), outputs: signature.outputs.map(tensorMetadata) };
}

/**
 * The version an inference request goes to (404 for an unknown model or version), refused with
 * 400 when its archive's handler is not `tensor`: another handler takes its own request format.
 */
export function inferenceTarget(registry: ModelRegistry, model: string, version: string | undefined): ModelVersion {
  const served = registry.version(model, version);
  const handler = served.archive.manifest.model.handler;
  if (!acceptsTensors(served)) {
    throw new KilnError(
      'KILN_OIP_REQUEST_INVALID',
      `Model ${model} is served by the '${handler}' handler, which takes its own request format; Open Inference Protocol requests need an archive made with --handler tensor.`,
    );
  }
  return served;
}

/** What one inference needs besides the request. */
export interface InferenceCall {
  readonly registry: ModelRegistry;
  readonly model: string;
  readonly served: ModelVersion;
  /** The version was named by the caller (the metrics label says so). */
  readonly versionNamed: boolean;
  readonly requestId: string;
  /** `performance.now()` when the request arrived. */
  readonly started: number;
}

/**
 * Runs a decoded request through the registry's queue, batcher and workers (the decoded tensors
 * move to the worker thread) and returns every output the model produced. The request is
 * counted (`ts_inference_requests_total`) where every entry point's are: serving's
 * metrics recorder, reached through its origin.
 */
export async function runInference(call: InferenceCall, request: InferRequest): Promise<Record<string, HostTensor>> {
  const result = await inferTensors(call.served, request.inputs, call.requestId, { arrived: call.started, versionNamed: call.versionNamed });
  return result.outputs;
}

const labelFiles = new WeakMap<ModelVersion, Record<string, string> | undefined>();

/** The archive's `index_to_name.json`, for the classification extension's labels (read once). */
export function labelsOf(version: ModelVersion): Record<string, string> | undefined {
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
