import { z } from 'zod';
import { KilnError } from '../../core/errors.js';
import { Engine } from '../../runtime/engine.js';
import type { HostTensor, HostTensorType } from '../../runtime/tensors.js';
import { forRequest } from '../request-errors.js';
import { defineHandler, type Handler, type RequestInput } from '../types.js';

const NUMERIC_TYPES = ['float32', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool'] as const;

const TensorJson = z.strictObject({
  dims: z.array(z.number().int().nonnegative()),
  type: z.enum(NUMERIC_TYPES).optional(),
  data: z.array(z.union([z.number(), z.boolean()])),
});

const RequestJson = z.strictObject({ inputs: z.record(z.string(), TensorJson) });

/** A tensor as JSON: `{"dims": [1, 3], "type": "float32", "data": [0.1, 0.2, 0.3]}`. */
export type TensorJson = z.infer<typeof TensorJson>;

const ARRAYS: Record<(typeof NUMERIC_TYPES)[number], (values: number[]) => HostTensor['data']> = {
  float32: (v) => Float32Array.from(v),
  float64: (v) => Float64Array.from(v),
  int8: (v) => Int8Array.from(v),
  uint8: (v) => Uint8Array.from(v),
  int16: (v) => Int16Array.from(v),
  uint16: (v) => Uint16Array.from(v),
  int32: (v) => Int32Array.from(v),
  uint32: (v) => Uint32Array.from(v),
  int64: (v) => BigInt64Array.from(v, (x) => BigInt(Math.trunc(x))),
  uint64: (v) => BigUint64Array.from(v, (x) => BigInt(Math.trunc(x))),
  bool: (v) => Uint8Array.from(v, (x) => (x ? 1 : 0)),
};

function parseRequest(input: RequestInput, index: number): z.infer<typeof RequestJson> {
  let value: unknown = input['body'] ?? input['data'] ?? input;
  if (value instanceof Uint8Array) value = new TextDecoder().decode(value);
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch (error) {
      throw new KilnError('KILN_HANDLER_INPUT_INVALID', `request ${index}: body is not JSON`, { cause: error, details: { requestIndex: index } });
    }
  }
  const parsed = RequestJson.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new KilnError(
      'KILN_HANDLER_INPUT_INVALID',
      `request ${index}: expected {"inputs": {NAME: {"dims": [...], "type": "float32", "data": [...]}}}: ${issue.path.join('.')}: ${issue.message}`,
      { details: { requestIndex: index } },
    );
  }
  return parsed.data;
}

function toJson(tensor: HostTensor): { dims: number[]; type: string; data: (number | string)[] } {
  const data = Array.from(tensor.data as ArrayLike<number | bigint | string>, (value) => (typeof value === 'bigint' ? Number(value) : value));
  return { dims: [...tensor.dims], type: tensor.type, data };
}

/**
 * `tensor`: raw tensors in and out as JSON. Each request is run on its own (no batch axis is
 * assumed); inputs default to the type the model declares.
 */
export function tensorHandler(): Handler {
  let engine: Engine;
  return defineHandler<HostTensorFeeds[], Record<string, HostTensor>[]>({
    async initialize(context) {
      if (!context.modelPath) throw new KilnError('KILN_HANDLER_LOAD_FAILED', 'tensor handler needs a serialized ONNX model in the archive');
      engine = await Engine.load(context.modelPath, { label: context.modelName, logger: context.logger });
    },
    preprocess(requests) {
      return requests.map((request, index) => {
        const { inputs } = parseRequest(request, index);
        const feeds: HostTensorFeeds = {};
        for (const [name, tensor] of Object.entries(inputs)) {
          const declared = engine.inputs.find((input) => input.name === name)?.type as HostTensorType | undefined;
          const type = tensor.type ?? (declared && declared in ARRAYS ? (declared as keyof typeof ARRAYS) : 'float32');
          const count = tensor.dims.reduce((a, b) => a * b, 1);
          if (count !== tensor.data.length) {
            throw new KilnError('KILN_HANDLER_INPUT_INVALID', `request ${index}: input '${name}' has ${tensor.data.length} values for dims [${tensor.dims.join(', ')}]`, {
              details: { requestIndex: index },
            });
          }
          feeds[name] = { type, dims: tensor.dims, data: ARRAYS[type](tensor.data.map(Number)) };
        }
        return feeds;
      });
    },
    async inference(batch) {
      const results: Record<string, HostTensor>[] = [];
      for (const [index, feeds] of batch.entries()) results.push(await forRequest(index, () => engine.run(feeds)));
      return results;
    },
    postprocess(outputs) {
      return outputs.map((output) => ({ outputs: Object.fromEntries(Object.entries(output).map(([name, tensor]) => [name, toJson(tensor)])) }));
    },
    async close() {
      await engine?.release();
    },
  });
}

type HostTensorFeeds = Record<string, HostTensor>;
