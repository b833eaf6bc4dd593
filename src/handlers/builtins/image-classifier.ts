import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { KilnError } from '../../core/errors.js';
import type { Engine } from '../../runtime/engine.js';
import type { HostTensor } from '../../runtime/tensors.js';
import type { ImagePixels, ImagePreprocess, ImageTensor } from '../../image/index.js';
import { loadImageModel } from '../image-fold.js';
import { requestBytes, requestImagePixels, requestImageTensor } from '../request-image.js';
import { settleEach, succeeded } from '../request-errors.js';
import { defineHandler, type Handler, type HandlerContext, type RequestInput } from '../types.js';
import { parseOrThrow } from '../../core/schema-errors.js';

const ConfigSchema = z.object({
  image: z.unknown().optional(),
  topk: z.number().int().positive().default(5),
  softmax: z.enum(['auto', 'always', 'never']).default('auto'),
  /** Fold the preprocessing's arithmetic into the model and feed uint8 pixels (see image-fold.ts). */
  foldPreprocess: z.boolean().default(true),
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

/**
 * Softmax of one row, unless the row already is a probability distribution (`auto`). Plain
 * loops: this runs once per request, and the array-method version cost ≈ 0.24 ms of a 1000-class
 * row. Values are rounded to float32 as they are stored, the softmax's result bit for bit.
 */
export function probabilities(row: Float32Array, mode: 'auto' | 'always' | 'never'): Float32Array {
  if (mode === 'never') return row;
  let max = -Infinity;
  let sum = 0;
  let inUnitRange = true;
  for (const value of row) {
    // As Math.max: one NaN makes the maximum NaN (and so every probability).
    if (value > max) max = value;
    else if (Number.isNaN(value)) max = NaN;
    sum += value;
    if (!(value >= 0 && value <= 1)) inUnitRange = false;
  }
  if (mode === 'auto' && inUnitRange && Math.abs(sum - 1) < 1e-3) return row;
  const out = new Float32Array(row.length);
  let total = 0;
  for (let index = 0; index < row.length; index++) {
    out[index] = Math.exp(row[index]! - max);
    total += out[index]!;
  }
  for (let index = 0; index < out.length; index++) out[index] = out[index]! / total;
  return out;
}

/**
 * The top k `{label: probability}` of one row, highest first (TorchServe's response shape); of
 * equal values the lower index comes first. Keeps the k best in one pass instead of sorting the row.
 */
export function topK(row: Float32Array, k: number, labels: ReadonlyMap<number, string>): Record<string, number> {
  const best: number[] = [];
  const keep = Math.min(k, row.length);
  for (let index = 0; index < row.length; index++) {
    const value = row[index]!;
    if (best.length === keep && !(value > row[best[keep - 1]!]!)) continue;
    let at = best.length === keep ? keep - 1 : best.length;
    while (at > 0 && value > row[best[at - 1]!]!) {
      best[at] = best[at - 1]!;
      at--;
    }
    best[at] = index;
  }
  return Object.fromEntries(best.map((index) => [labels.get(index) ?? String(index), row[index]!]));
}

/** The decoded images of a batch (or each one's error) and the tensor of those that decoded. */
export interface PreparedBatch {
  readonly images: (ImageTensor | ImagePixels | Error)[];
  readonly tensor: HostTensor | undefined;
}

/**
 * Batch tensors' memory, used again once a run is done with it. A camera-size request's bytes,
 * its decoded pixels and its row of the batch are each a fresh ArrayBuffer; V8 starts a full GC
 * for every 64 MB or so of such external memory, whatever the JavaScript heap holds, so every
 * buffer not allocated per batch spaces those GCs out. A few are kept: with overlap, the next
 * batch is stacked while the current one runs.
 */
export class BatchBuffers {
  static readonly KEPT = 4;
  readonly #free: (Uint8Array | Float32Array)[] = [];

  /** A buffer of `length` elements for `feed` (reused when one is free; contents unspecified). */
  take(feed: 'float' | 'pixels', length: number): Uint8Array | Float32Array {
    const at = this.#free.findIndex((buffer) => buffer.length === length && (feed === 'pixels') === buffer instanceof Uint8Array);
    if (at >= 0) return this.#free.splice(at, 1)[0]!;
    return feed === 'pixels' ? new Uint8Array(length) : new Float32Array(length);
  }

  /** Hands a batch tensor's memory back once nothing reads it any more; the oldest spare goes first. */
  give(buffer: Uint8Array | Float32Array): void {
    this.#free.push(buffer);
    if (this.#free.length > BatchBuffers.KEPT) this.#free.shift();
  }
}

/**
 * The image_classifier's preprocess: each request's bytes through the image module (each image
 * decodes on its own: one that is not an image fails alone, not its batch), stacked into one
 * batch tensor: float32 by the description, or with `feed: 'pixels'` uint8 `[n, H, W, C]` for a
 * model with the preprocessing folded in. Images whose tensor size differs from the batch's
 * first (possible with the `multiple-of` mode) fail alone.
 */
export async function prepareImageBatch(
  requests: readonly RequestInput[],
  preprocess: ImagePreprocess,
  feed: 'float' | 'pixels' = 'float',
  buffers?: BatchBuffers,
): Promise<PreparedBatch> {
  const prepared = await settleEach(requests, (request, index): Promise<ImageTensor | ImagePixels> =>
    feed === 'pixels' ? requestImagePixels(requestBytes(request, index), preprocess, index) : requestImageTensor(requestBytes(request, index), preprocess, index),
  );
  const first = succeeded(prepared)[0]?.value;
  if (!first) return { images: prepared, tensor: undefined };
  const images = prepared.map((image, index) =>
    image instanceof Error || image.dims.every((dim, axis) => dim === first.dims[axis])
      ? image
      : new KilnError('KILN_HANDLER_INPUT_INVALID', `request ${index}: its tensor is [${image.dims.join(', ')}], the batch's [${first.dims.join(', ')}]; use a fixed-size resize mode or batchSize 1`, {
          details: { requestIndex: index },
        }),
  );
  const decoded = succeeded(images);
  const size = first.data.length;
  const data = buffers ? buffers.take(feed, decoded.length * size) : feed === 'pixels' ? new Uint8Array(decoded.length * size) : new Float32Array(decoded.length * size);
  decoded.forEach(({ value }, row) => data.set(value.data, row * size));
  return { images, tensor: { type: feed === 'pixels' ? 'uint8' : 'float32', dims: [decoded.length, ...first.dims.slice(1)], data } };
}

/**
 * `image_classifier`: any image sharp decodes → the image module's preprocessing as
 * `handler.image` in model-config.yaml describes it (see image-config.ts; default: the model's
 * input size, centre crop, ImageNet mean/std) → one batched run → softmax → top-k labels from
 * index_to_name.json. Where the description allows, the normalization runs inside the model and
 * batches are uint8 pixels (image-fold.ts; `handler.foldPreprocess: false` turns that off).
 */
export function imageClassifier(): Handler {
  let engine: Engine;
  let preprocess: ImagePreprocess;
  let feed: 'float' | 'pixels';
  let config: z.infer<typeof ConfigSchema>;
  let labels: Map<number, string>;
  const buffers = new BatchBuffers();
  return defineHandler<PreparedBatch, (Float32Array | Error)[]>({
    overlap: true,
    async initialize(context: HandlerContext) {
      config = parseOrThrow(ConfigSchema, context.modelYamlConfig['handler'] ?? {}, (reason) => new KilnError('KILN_HANDLER_LOAD_FAILED', `image_classifier: handler config: ${reason}`));
      if (!context.modelPath) throw new KilnError('KILN_HANDLER_LOAD_FAILED', 'image_classifier needs a serialized ONNX model in the archive');
      ({ engine, preprocess, feed } = await loadImageModel('image_classifier', context.modelPath, config.image, {
        fold: config.foldPreprocess,
        logger: context.logger,
        engine: { label: context.modelName },
      }));
      labels = loadLabels(context.modelDir);
    },
    async preprocess(requests) {
      return prepareImageBatch(requests, preprocess, feed, buffers);
    },
    async inference({ images, tensor }) {
      if (!tensor) return images as Error[];
      let outputs;
      try {
        outputs = await engine.run({ [engine.inputs[0]!.name]: tensor });
      } finally {
        // onnxruntime has read the batch by now, whether the run succeeded or not.
        buffers.give(tensor.data as Uint8Array | Float32Array);
      }
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
