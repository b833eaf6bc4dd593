import { z } from 'zod';
import { KilnError } from '../../core/errors.js';
import { Engine } from '../../runtime/engine.js';
import type { HostTensor } from '../../runtime/tensors.js';
import { forRequest, settleEach } from '../request-errors.js';
import { encodeTensorBundle, TENSOR_BUNDLE_TYPE } from '../tensor-bundle.js';
import { DECODED_TENSORS, decodeTensorRequest, type TensorFeeds } from '../tensor-request.js';
import { groupStackable, hasBatchAxis, rowsOf, splitRows, stackFeeds, type StackScratch } from '../tensor-stack.js';
import { defineHandler, type Handler } from '../types.js';
import { parseOrThrow } from '../../core/schema-errors.js';

export type { TensorJson } from '../tensor-request.js';

const ConfigSchema = z.object({
  /** Stack requests along axis 0 when the model has a dynamic first axis; false: each runs alone. */
  stack: z.boolean().default(true),
  /** onnxruntime intra-op threads; 0 is automatic (served: max(1, floor(cores / workers)), see runtime/served-threads.ts). */
  threads: z.number().int().nonnegative().default(0),
}).loose();

function toJson(tensor: HostTensor): { dims: number[]; type: string; data: (number | string)[] } {
  const data = Array.from(tensor.data as ArrayLike<number | bigint | string>, (value) => (typeof value === 'bigint' ? Number(value) : value));
  return { dims: [...tensor.dims], type: tensor.type, data };
}

/**
 * `tensor`: raw tensors in, JSON tensors out. A request is JSON
 * `{"inputs": {NAME: {"dims", "type", "data"}}}`, or a NumPy `.npy` body for a model with one
 * input (see {@link decodeTensorRequest}); tensors a transport hands over already decoded
 * ({@link DECODED_TENSORS}) are answered with a tensor bundle ({@link encodeTensorBundle}). When the model has a dynamic first axis, the requests
 * of a batch that agree on type and the other dims are concatenated along axis 0 and run once,
 * and each gets back its own rows; otherwise (or with `handler.stack: false`) each runs alone.
 * `handler.threads` sets onnxruntime's intra-op threads (default 0: automatic, the server's sizing rule).
 */
export function tensorHandler(): Handler {
  let engine: Engine;
  let stack = true;
  const scratch: StackScratch = new Map();
  /** The batch's requests that came as decoded tensors (a handler runs one batch at a time). */
  let bundled = new Set<number>();
  return defineHandler<(TensorFeeds | Error)[], (TensorFeeds | Error)[]>({
    async initialize(context) {
      const config = parseOrThrow(ConfigSchema, context.modelYamlConfig['handler'] ?? {}, (reason) => new KilnError('KILN_HANDLER_LOAD_FAILED', `tensor: handler config: ${reason}`));
      if (!context.modelPath) throw new KilnError('KILN_HANDLER_LOAD_FAILED', 'tensor handler needs a serialized ONNX model in the archive');
      engine = await Engine.load(context.modelPath, { label: context.modelName, logger: context.logger, intraOpThreads: config.threads });
      stack = config.stack && hasBatchAxis(engine.inputs, engine.outputs);
    },
    preprocess(requests, context) {
      bundled = new Set(requests.flatMap((request, index) => (request[DECODED_TENSORS] === undefined ? [] : [index])));
      return settleEach(requests, (request, index) => decodeTensorRequest(request, index, engine.inputs, context.getRequestHeader(index, 'content-type')));
    },
    async inference(batch) {
      // Requests that did not decode keep their error; each of the others fails alone.
      const results: (TensorFeeds | Error)[] = [...batch];
      const runAlone = async (index: number) => {
        results[index] = await forRequest(index, () => engine.run(batch[index] as TensorFeeds)).catch((error: unknown) =>
          error instanceof Error ? error : new Error(String(error)),
        );
      };
      const decoded = batch.flatMap((feeds, index) => (feeds instanceof Error ? [] : [index]));
      const groups = stack ? groupStackable(decoded.map((index) => batch[index] as TensorFeeds)).map((group) => group.map((position) => decoded[position]!)) : decoded.map((index) => [index]);
      for (const group of groups) {
        if (group.length === 1) {
          await runAlone(group[0]!);
          continue;
        }
        const members = group.map((index) => batch[index] as TensorFeeds);
        // A stacked run that fails is retried request by request, so only the culprit fails.
        const split = await engine.run(stackFeeds(members, scratch)).then((outputs) => splitRows(outputs, members.map(rowsOf)), () => undefined);
        if (split) group.forEach((index, position) => (results[index] = split[position]!));
        else for (const index of group) await runAlone(index);
      }
      return results;
    },
    postprocess(outputs, context) {
      // Tensors a transport handed over decoded go back as a bundle: exact, and no JSON to build.
      return outputs.map((output, index) => {
        if (output instanceof Error) return output;
        if (!bundled.has(index)) return { outputs: Object.fromEntries(Object.entries(output).map(([name, tensor]) => [name, toJson(tensor)])) };
        context.setResponseContentType(index, TENSOR_BUNDLE_TYPE);
        return encodeTensorBundle(output);
      });
    },
    async close() {
      await engine?.release();
    },
  });
}
