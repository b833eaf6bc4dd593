/**
 * `bench:server`'s command-line flags and fixed settings: durations, clients, batching, and the
 * model-config.yaml of each copy of the classifier the server serves. Read once, at import.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { CLS_LABELS } from '../../src/cli/demo-assets.js';
import { ppOcrAssetsDir } from '../../src/cli/default-models.js';
import { IMAGE_PRESETS } from '../../src/image/index.js';

function flag(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  const value = index > 0 ? Number(process.argv[index + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
}

/** The suites `--suite` picks: the PP-OCR classifier on PNGs, tensor requests, MobileNetV2 on JPEGs. */
export const SUITE_NAMES = ['ocr-cls', 'tensor', 'classify'] as const;
export type SuiteName = (typeof SUITE_NAMES)[number];
function suites(): readonly SuiteName[] {
  const index = process.argv.indexOf('--suite');
  const value = index > 0 ? process.argv[index + 1] ?? '' : 'all';
  if (value === 'all') return SUITE_NAMES;
  const picked = value.split(',');
  for (const name of picked) if (!(SUITE_NAMES as readonly string[]).includes(name)) throw new Error(`--suite must be all or a comma list of ${SUITE_NAMES.join(', ')}; got '${name}'`);
  return picked as SuiteName[];
}
/** The suites to run (`--suite`, default all); `--tensor-only` is `--suite tensor`. */
export const SUITES: readonly SuiteName[] = process.argv.includes('--tensor-only') ? ['tensor'] : suites();
/** Measured seconds per configuration (`--seconds`), split into {@link ROUNDS} rounds. */
export const SECONDS = flag('--seconds', 30);
/** Alternating rounds (`--rounds`), so drift of the machine spreads over every configuration. */
export const ROUNDS = Math.round(flag('--rounds', 3));
/** One configuration's share of one round. */
export const ROUND_MS = (SECONDS * 1000) / ROUNDS;
/** Intra-op threads of the tensor comparison, server and raw alike (`--threads`). */
export const THREADS = Math.round(flag('--threads', availableParallelism()));
/** The `ocr-cls` suite: the image (PNG) configurations of the PP-OCR classifier. */
export const IMAGES = SUITES.includes('ocr-cls');
/** The `tensor` suite: `.npy` and OIP binary tensor requests against raw `session.run`. */
export const TENSORS = SUITES.includes('tensor');
/** The `tensor` handler copy that takes `.npy` requests on TorchServe's route. */
export const TENSOR_MODEL = 'cls-tensor';
/**
 * A second `tensor` handler copy for Open Inference Protocol requests: its own model name gives
 * it its own row and its own server counters, apart from the `.npy` configuration's.
 */
export const OIP_MODEL = 'cls-oip';
/** Keep-alive clients of every server configuration. */
export const CLIENTS = 64;
/** How often the worker thread GETs /ping. */
export const PING_EVERY_MS = 50;
/** Batch size of the batched copies and of every in-process loop. */
export const BATCH = 8;
export const MAX_BATCH_DELAY_MS = 5;
/** Every path runs this long once before measuring, unmeasured. */
export const WARMUP_MS = 2000;
/** A request with no answer after this long counts as lost. */
export const REQUEST_TIMEOUT_MS = 60_000;
/** The classifier's labels, which an image_classifier answer must carry, each once. */
export const LABELS = Object.values(JSON.parse(CLS_LABELS) as Record<string, string>);
export const MODEL_PATH = join(ppOcrAssetsDir(), 'ch_ppocr_mobile_v2.0_cls_infer.onnx');
/** The batched image_classifier copy whose handler runs in a worker process instead of a thread. */
export const PROCESS_MODEL = `cls-b${BATCH}-process`;
/** The demo's model-config.yaml, with the batch settings of each copy (and where its handler runs). */
export const imageModelConfig = (batchSize: number, isolation: 'thread' | 'process' = 'thread') =>
  [
    `batchSize: ${batchSize}`,
    `maxBatchDelay: ${MAX_BATCH_DELAY_MS}`,
    'handler:',
    `  isolation: ${isolation}`,
    '  image:',
    '    size: [48, 192]',
    '    fit: pad',
    '    mean: [0.5, 0.5, 0.5]',
    '    std: [0.5, 0.5, 0.5]',
    '    channelOrder: BGR',
    '  topk: 2',
    '',
  ].join('\n');
/** The tensor copy: the same batching, the `tensor` handler with the raw loop's threads. */
export const tensorModelConfig = () => [`batchSize: ${BATCH}`, `maxBatchDelay: ${MAX_BATCH_DELAY_MS}`, 'handler:', `  threads: ${THREADS}`, ''].join('\n');
/** The image_classifier's preprocessing as the demo configures it, for the in-process loops. */
export const TRANSFORM = IMAGE_PRESETS['ppocr-cls'];

/**
 * The `classify` suite's measured seconds per configuration (`--seconds`, default 6: its 24
 * configurations then take about 4 minutes on 2 cores with setup, warm-up and drains), split
 * into {@link ROUNDS} rounds.
 */
export const CLASSIFY_SECONDS = flag('--seconds', 6);
export const CLASSIFY_ROUND_MS = (CLASSIFY_SECONDS * 1000) / ROUNDS;
/** Batching of kiln's MobileNetV2 archives (the hand-written server does not batch). */
export const CLASSIFY_BATCH = 8;
/**
 * classify's maxBatchDelay in ms (`--max-batch-delay`, default 5). 0 batches greedily: a worker
 * that frees up takes what has queued meanwhile (up to batchSize) without waiting for more.
 */
export const CLASSIFY_MAX_BATCH_DELAY_MS = (() => {
  const index = process.argv.indexOf('--max-batch-delay');
  if (index < 0) return 5;
  const value = Number(process.argv[index + 1]);
  if (!Number.isInteger(value) || value < 0) throw new Error('--max-batch-delay takes a whole number of ms ≥ 0');
  return value;
})();
/** Distinct JPEGs per request size, cycled by the clients; and calibration images for INT8. */
export const CLASSIFY_IMAGES = 4;
export const CLASSIFY_CALIBRATION = Math.round(flag('--calibration', 8));
/**
 * Extra config.properties lines for the classify suite's kiln child (`--kiln-config key=value`,
 * repeatable), e.g. `default_workers_per_model=0` for TorchServe's default of one worker per CPU.
 */
export const CLASSIFY_KILN_CONFIG: readonly string[] = process.argv.flatMap((arg, index) => {
  if (arg !== '--kiln-config') return [];
  const line = process.argv[index + 1] ?? '';
  if (!/^[a-z_]+=\S+$/.test(line)) throw new Error(`--kiln-config takes key=value, not "${line}"`);
  return [line];
});
/** The client counts of the classify suite: throughput at 64, latency at 1 (`--clients 1` for one). */
export const CLASSIFY_CLIENTS: readonly number[] = (() => {
  const index = process.argv.indexOf('--clients');
  if (index < 0) return [64, 1];
  const counts = (process.argv[index + 1] ?? '').split(',').map(Number);
  if (counts.length === 0 || !counts.every((count) => Number.isInteger(count) && count > 0)) {
    throw new Error(`--clients takes a comma-separated list of positive integers, not "${process.argv[index + 1]}"`);
  }
  return counts;
})();
/** Each classify contender runs this long per model and size before measuring, unmeasured. */
export const CLASSIFY_WARMUP_MS = 1000;
