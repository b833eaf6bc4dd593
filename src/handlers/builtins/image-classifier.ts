import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { KilnError } from '../../core/errors.js';
import { Engine } from '../../runtime/engine.js';
import type { HostTensor } from '../../runtime/tensors.js';
import { ImageTransformSchema, imageToTensor, requestBytes, type ImageTransform } from '../image.js';
import { settleEach, succeeded } from '../request-errors.js';
import { defineHandler, type Handler, type HandlerContext } from '../types.js';
import { parseOrThrow } from '../../core/schema-errors.js';

const ConfigSchema = z.object({
  image: ImageTransformSchema.prefault({}),
  topk: z.number().int().positive().default(5),
  softmax: z.enum(['auto', 'always', 'never']).default('auto'),
}).loose();

/** Labels from index_to_name.json (`{"0": "tench"}`; a list value means its last element). */
export function loadLabels(modelDir: string): Map<number, string> {
  const path = join(modelDir, 'index_to_name.json');
  if (!existsSync(path)) return new Map();
  const raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  return new Map(
    Object.entries(raw).map(([index, value]) => [Number(index), String(Array.isArray(value) ? value[value.length - 1] : value)]),
  );
}

/** Softmax of one row, unless the row already is a probability distribution (`auto`). */
export function probabilities(row: Float32Array, mode: 'auto' | 'always' | 'never'): Float32Array {
  const isDistribution = row.every((p) => p >= 0 && p <= 1) && Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-3;
  if (mode === 'never' || (mode === 'auto' && isDistribution)) return row;
  const max = Math.max(...row);
  const exps = row.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / sum);
}

/** The top k `{label: probability}` of one row, highest first (TorchServe's response shape). */
export function topK(row: Float32Array, k: number, labels: ReadonlyMap<number, string>): Record<string, number> {
  const order = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]!);
  return Object.fromEntries(order.slice(0, k).map((index) => [labels.get(index) ?? String(index), row[index]!]));
}

/** The decoded images of a batch (or each one's error) and the tensor of those that decoded. */
interface PreparedBatch {
  readonly images: (Float32Array | Error)[];
  readonly tensor: HostTensor | undefined;
}

/**
 * `image_classifier`: any image sharp decodes → resize/crop/normalize as `handler.image` in
 * model-config.yaml says (default: the model's input size, ImageNet mean/std) → one batched
 * run → softmax → top-k labels from index_to_name.json.
 */
export function imageClassifier(): Handler {
  let engine: Engine;
  let transform: ImageTransform;
  let config: z.infer<typeof ConfigSchema>;
  let labels: Map<number, string>;
  return defineHandler<PreparedBatch, (Float32Array | Error)[]>({
    async initialize(context: HandlerContext) {
      config = parseOrThrow(ConfigSchema, context.modelYamlConfig['handler'] ?? {}, (reason) => new KilnError('KILN_HANDLER_LOAD_FAILED', `image_classifier: handler config: ${reason}`));
      if (!context.modelPath) throw new KilnError('KILN_HANDLER_LOAD_FAILED', 'image_classifier needs a serialized ONNX model in the archive');
      engine = await Engine.load(context.modelPath, { label: context.modelName, logger: context.logger });
      const shape = engine.inputs[0]?.shape ?? [];
      const [h, w] = config.image.layout === 'NCHW' ? [shape[2], shape[3]] : [shape[1], shape[2]];
      const size = config.image.size ?? (typeof h === 'number' && typeof w === 'number' ? ([h, w] as [number, number]) : undefined);
      if (!size) {
        throw new KilnError('KILN_HANDLER_LOAD_FAILED', `image_classifier: the model's input has a dynamic size; set handler.image.size: [height, width] in model-config.yaml`);
      }
      transform = { ...config.image, size };
      labels = loadLabels(context.modelDir);
    },
    async preprocess(requests) {
      // Each image decodes on its own: one that is not an image fails alone, not its batch.
      const images = await settleEach(requests, (request, index) => imageToTensor(requestBytes(request, index), transform, index));
      const decoded = succeeded(images);
      if (decoded.length === 0) return { images, tensor: undefined };
      const [height, width] = transform.size;
      const data = new Float32Array(decoded.length * 3 * height * width);
      decoded.forEach(({ value }, row) => data.set(value, row * value.length));
      const dims = transform.layout === 'NCHW' ? [decoded.length, 3, height, width] : [decoded.length, height, width, 3];
      return { images, tensor: { type: 'float32', dims, data } };
    },
    async inference({ images, tensor }) {
      if (!tensor) return images as Error[];
      const outputs = await engine.run({ [engine.inputs[0]!.name]: tensor });
      const scores = outputs[engine.outputs[0]!.name]!;
      const classes = scores.dims[scores.dims.length - 1]!;
      const data = scores.data as Float32Array;
      let row = 0;
      return images.map((image) => (image instanceof Error ? image : data.slice(row * classes, ++row * classes)));
    },
    postprocess(rows) {
      return rows.map((row) => (row instanceof Error ? row : topK(probabilities(row, config.softmax), config.topk, labels)));
    },
    async close() {
      await engine?.release();
    },
  });
}
