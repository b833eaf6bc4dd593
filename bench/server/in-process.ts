/**
 * The in-process side of the comparison: bare onnxruntime-node sessions and the handler's
 * preprocessing, timed back to back in this process with the same CPU accounting as the server.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { decodeRgb as decodeImage, prepareImage, type ImagePreprocess } from '../../src/image/index.js';

/** The image_classifier's tensor for one image, as a bare Float32Array. */
export const imageToTensor = async (png: Uint8Array, preprocess: ImagePreprocess): Promise<Float32Array> => (await prepareImage(png, preprocess)).data;
import { machineBusyMs } from './child.js';
import { BATCH, MODEL_PATH, TRANSFORM } from './options.js';
import { f } from './report.js';

/** What one timed loop did: runs, wall time, this process's CPU, everyone else's, loop delay. */
export interface LoopResult {
  readonly runs: number;
  readonly elapsedMs: number;
  readonly cpuMs: number;
  readonly otherCpuMs: number;
  readonly loopP99Ms: number;
  readonly loopMaxMs: number;
}

/** A session created as the handler's Engine creates it: CPU, 'all' optimizations, `threads` or onnxruntime's default. */
export const sessionOptions = (threads?: number): ort.InferenceSession.SessionOptions => ({
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
  logSeverityLevel: 3,
  ...(threads ? { intraOpNumThreads: threads } : {}),
});

/** Runs `body` back to back for `ms`; also records this process's event-loop delay meanwhile. */
export async function loopFor(ms: number, body: () => Promise<unknown>): Promise<LoopResult> {
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const cpu = process.cpuUsage();
  const machine = machineBusyMs();
  const start = performance.now();
  let runs = 0;
  while (performance.now() - start < ms) {
    await body();
    runs++;
  }
  const usage = process.cpuUsage(cpu);
  const cpuMs = (usage.user + usage.system) / 1000;
  delay.disable();
  return { runs, elapsedMs: performance.now() - start, cpuMs, otherCpuMs: machineBusyMs() - machine - cpuMs, loopP99Ms: delay.percentile(99) / 1e6, loopMaxMs: delay.max / 1e6 };
}

/** The image_classifier's preprocess for a batch of {@link BATCH} copies of `png`. */
export const preprocess = (png: Buffer) => Promise.all(Array.from({ length: BATCH }, () => imageToTensor(png, TRANSFORM)));

/** Stacks [3,48,192] tensors into one [N,3,48,192], as the server's batch does. */
export function batchTensor(tensors: readonly Float32Array[]): ort.Tensor {
  const data = new Float32Array(tensors.length * tensors[0]!.length);
  tensors.forEach((tensor, index) => data.set(tensor, index * tensor.length));
  return new ort.Tensor('float32', data, [tensors.length, 3, 48, 192]);
}

/** Where preprocessing goes, once, briefly (not alternated): one table row per step. */
export async function preprocessingBreakdown(png: Buffer, session: ort.InferenceSession, feeds: Record<string, ort.Tensor>): Promise<string[][]> {
  const breakdown: string[][] = [];
  const once = async (name: string, items: number, body: () => Promise<unknown>, includes: string) => {
    const r = await loopFor(1500, body);
    breakdown.push([name, f(r.elapsedMs / r.runs / items, 3), f(r.cpuMs / r.elapsedMs, 2), f(r.otherCpuMs / r.elapsedMs, 2), f(r.loopMaxMs, 1), includes]);
  };
  await once('decode, 1 at a time', 1, () => decodeImage(png), 'sharp: PNG -> raw RGB (rotate, flatten, sRGB)');
  await once('decode, 8 in parallel', BATCH, () => Promise.all(Array.from({ length: BATCH }, () => decodeImage(png))), 'the same, Promise.all as the handler does');
  const decoded = await decodeImage(png);
  const usedWidth = Math.min(192, Math.ceil((48 * decoded.width) / decoded.height));
  await once(
    'resize, 1 at a time',
    1,
    () => sharp(decoded.data, { raw: { width: decoded.width, height: decoded.height, channels: 3 } }).resize(usedWidth, 48, { fit: 'fill', kernel: 'linear' }).raw().toBuffer(),
    `sharp: raw ${decoded.width}x${decoded.height} -> ${usedWidth}x48 bilinear, as the handler's height mode does`,
  );
  await once('imageToTensor, 1 at a time', 1, () => imageToTensor(png, TRANSFORM), 'one sharp pipeline: decode + bilinear resize to 48 high, then normalize');
  await once('imageToTensor, 8 in parallel', BATCH, () => preprocess(png), 'the handler\'s preprocess for a batch of 8');
  const oneThread = await ort.InferenceSession.create(MODEL_PATH, sessionOptions(1));
  await once('session.run b8, 1 thread', BATCH, () => oneThread.run(feeds), 'for reference: the server uses the default (one per core)');
  await once('session.run b8, default', BATCH, () => session.run(feeds), 'the raw figure again, in this short window');
  await oneThread.release();
  return breakdown;
}
