import { KilnError } from '../core/errors.js';
import type { HostTensor } from '../runtime/tensors.js';
import { decodeTensorBundle, TENSOR_BUNDLE_TYPE } from '../handlers/tensor-bundle.js';
import { DECODED_TENSORS } from '../handlers/tensor-request.js';
import type { ModelVersion, RequestOrigin } from './model-version.js';

/** The built-in handler that takes typed tensors, the only one a tensor protocol (OIP) can feed. */
const TENSOR_HANDLER = 'tensor';

/** True when a version's handler takes typed tensors (its archive was made with `--handler tensor`). */
export function acceptsTensors(version: ModelVersion): boolean {
  return version.archive.manifest.model.handler === TENSOR_HANDLER;
}

/** A tensor inference's outputs and how long it waited and ran. */
export interface TensorResult {
  readonly outputs: Record<string, HostTensor>;
  readonly queueMs: number;
  readonly inferenceMs: number;
}

/**
 * Runs typed tensors through a version's queue, batcher and workers, and returns every output
 * the model produced. The tensors move to the worker (they must belong to this request alone);
 * how they travel to the `tensor` handler and back (a tensor bundle) stays inside serving, so a
 * transport deals in tensors only. With an `origin` the request is counted (see ModelVersion.predict).
 * @throws KilnError from the worker, or `KILN_HANDLER_OUTPUT_INVALID` when the answer is not tensors.
 */
export async function inferTensors(version: ModelVersion, tensors: Readonly<Record<string, HostTensor>>, requestId: string, origin?: RequestOrigin): Promise<TensorResult> {
  const response = await version.predict({ input: { [DECODED_TENSORS]: tensors }, headers: {}, id: requestId, transferable: true }, origin);
  if (response.settings.contentType !== TENSOR_BUNDLE_TYPE) {
    throw new KilnError('KILN_HANDLER_OUTPUT_INVALID', `The handler answered with ${response.settings.contentType ?? 'no content type'}, not tensors.`);
  }
  return { outputs: decodeTensorBundle(response.body), queueMs: response.queueMs, inferenceMs: response.inferenceMs };
}
