/**
 * `npm run bench:ocr`: kiln's `ocr` archive over HTTP against `@gutenye/ocr-node`, the library a
 * user would call in-process for the same PP-OCR models (issue 14, acceptance 4).
 *
 * Pages: --pages distinct pages (default 8), rendered deterministically in DejaVu Sans by the
 * test fixtures' `renderPage` (960 px wide, 14 lines of 6–9 mixed words: words, numbers, times,
 * ids, punctuation; 20–24 px glyphs), as PNG. Ground truth: the lines rendered.
 *
 * Engines, in alternating rounds (--rounds, --seconds each in all), on the same pages:
 *   kiln <variant>  a `kiln serve --foreground` child with the OCR archive built as `kiln demo`
 *                   builds it (det FP32 as the serialized file, cls + rec + keys as extra files;
 *                   with --int8 DIR a second archive whose det/rec are DIR's
 *                   ch_PP-OCRv4_{det,rec}_infer.int8.onnx), --clients keep-alive clients
 *                   (default 8) PUT the pages round-robin to /predictions/<model>;
 *   ocr-node        `Ocr.create()` with its defaults (the same det/rec ONNX files, no classifier;
 *                   --peer-threads N sets onnxruntime's intraOpNumThreads), in this process,
 *                   --peer-concurrency `detect(buffer)` calls in flight (default 2: one per core).
 *
 * Accuracy: each engine's answer for a page (kiln: `text`, lines joined by newlines; ocr-node:
 * its lines' `text` joined by spaces) and the truth (the lines joined by spaces) are normalized
 * the same way, NFKC (the dictionary spells some punctuation full-width) and every run of
 * whitespace made one space, then scored as 1 − Σ edits / Σ truth characters over the pages
 * (src/evaluate/text-metrics.ts).
 *
 * Usage: npm run bench:ocr [-- --seconds N] [--rounds R] [--pages M] [--clients C]
 *        [--peer-concurrency K] [--peer-threads N] [--workers W] [--threads T] [--batch B] [--int8 DIR]
 *        npm run bench:ocr -- --write-calibration DIR   (calibration images for --int8; see
 *        docs/benchmarks.md for the two `kiln quantize` commands)
 *   --seconds: measured seconds per engine (default 12), split into --rounds rounds (default 3);
 *   --workers/--threads: the OCR model's workers and its sessions' intra-op threads (default 1
 *   worker, onnxruntime's choice of threads); --batch: its batchSize (default 4, maxBatchDelay 5).
 */
import { execSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Ocr from '@gutenye/ocr-node';
import { ppOcrAssetsDir } from '../src/cli/default-models.js';
import { scoreText } from '../src/evaluate/text-metrics.js';
import { createModelArchive } from '../src/handlers/model-archive.js';
import { seededRandom } from '../src/core/random.js';
import { randomWords, renderLine, renderPage } from '../test/fixtures/render-text.js';
import { processCpuMs, startServer, type Server } from './server/child.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '12' },
    rounds: { type: 'string', default: '3' },
    pages: { type: 'string', default: '8' },
    clients: { type: 'string', default: '8' },
    'peer-concurrency': { type: 'string', default: '2' },
    'peer-threads': { type: 'string' },
    workers: { type: 'string', default: '1' },
    batch: { type: 'string', default: '4' },
    threads: { type: 'string' },
    int8: { type: 'string' },
    'write-calibration': { type: 'string' },
  },
});
const positive = (name: keyof typeof args) => {
  const value = Number(args[name]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
};
const SECONDS = positive('seconds');
const ROUNDS = Math.round(positive('rounds'));
const PAGES = Math.round(positive('pages'));
const CLIENTS = Math.round(positive('clients'));
const PEER_CONCURRENCY = Math.round(positive('peer-concurrency'));
const WORKERS = Math.round(positive('workers'));
const BATCH = Math.round(positive('batch'));
const ROUND_MS = (SECONDS * 1000) / ROUNDS;
const WARMUP_MS = 2000;

interface Page {
  readonly png: Buffer;
  readonly truth: string;
}

/** Same input, same text: NFKC, and whitespace runs made one space. */
const normalize = (text: string) => text.normalize('NFKC').replace(/\s+/g, ' ').trim();

/** Deterministic pages of mixed words; a line too wide for the page is drawn again shorter. */
async function renderPages(count: number): Promise<Page[]> {
  const pages: Page[] = [];
  for (let index = 0; index < count; index++) {
    const random = seededRandom(1000 + index);
    const fontSize = 20 + (index % 3) * 2;
    const lines: string[] = [];
    for (let line = 0; line < 14; line++) {
      let words = randomWords(random, 6 + Math.floor(random() * 4));
      // Roughly 0.62 em per character in DejaVu Sans; keep well inside the 960 px page.
      while (words.join(' ').length * fontSize * 0.62 > 960 - 3 * fontSize) words = words.slice(0, -1);
      lines.push(words.join(' '));
    }
    const page = await renderPage({ lines, seed: index + 1, width: 960, fontSize, lineSpacing: 1.7 });
    pages.push({ png: Buffer.from(page.png), truth: normalize(page.lines.map((entry) => entry.text).join(' ')) });
  }
  return pages;
}

/** An engine under test: reads one page, returns its text. */
interface Engine {
  readonly name: string;
  /** CPU time (ms) of the process(es) doing this engine's work so far. */
  cpuMs(): number;
  /** Requests in flight at once. */
  readonly concurrency: number;
  read(page: Page): Promise<string>;
}

interface Totals {
  /** The next page this engine reads: rounds carry on where the previous one stopped. */
  cursor: number;
  pages: number;
  ms: number;
  cpuMs: number;
  failures: number;
  readonly answers: Map<number, string>;
}

/** Runs `engine` on the pages round-robin, `concurrency` at a time, for `ms`. */
async function phase(engine: Engine, pages: readonly Page[], ms: number, totals?: Totals): Promise<void> {
  let next = totals?.cursor ?? 0;
  let done = 0;
  let failures = 0;
  const cpu = engine.cpuMs();
  const start = performance.now();
  const deadline = start + ms;
  const client = async () => {
    while (performance.now() < deadline) {
      const index = next++ % pages.length;
      try {
        const text = await engine.read(pages[index]!);
        done++;
        totals?.answers.set(index, text);
      } catch (error) {
        failures++;
        if (failures === 1) console.error(`${engine.name}: ${String(error)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: engine.concurrency }, client));
  if (!totals) return;
  totals.cursor = next;
  totals.pages += done;
  totals.ms += performance.now() - start;
  totals.cpuMs += engine.cpuMs() - cpu;
  totals.failures += failures;
}

function kilnEngine(server: Server, model: string): Engine {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const url = new URL(`${server.inference}/predictions/${model}`);
  return {
    name: `kiln ${model}`,
    cpuMs: () => processCpuMs(server.child.pid),
    concurrency: CLIENTS,
    read: (page) =>
      new Promise((resolve, reject) => {
        const request = http.request(url, { method: 'PUT', agent, headers: { 'content-type': 'image/png', 'content-length': page.png.length } }, (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            const body = Buffer.concat(chunks).toString('utf8');
            if (response.statusCode !== 200) return reject(new Error(`${response.statusCode}: ${body}`));
            resolve((JSON.parse(body) as { text: string }).text);
          });
        });
        request.on('error', reject);
        request.end(page.png);
      }),
  };
}

async function peerEngine(): Promise<Engine> {
  // Its own defaults unless --peer-threads sets onnxruntime's intra-op threads of its two sessions.
  const ocr = await Ocr.create(args['peer-threads'] ? { onnxOptions: { intraOpNumThreads: Number(args['peer-threads']) } } : {});
  return {
    name: `ocr-node${args['peer-threads'] ? ` (${args['peer-threads']} intra-op threads)` : ''}`,
    cpuMs: () => {
      const usage = process.cpuUsage();
      return (usage.user + usage.system) / 1000;
    },
    concurrency: PEER_CONCURRENCY,
    async read(page) {
      const lines = (await ocr.detect(page.png as unknown as string)) as { text: string }[];
      return lines.map((line) => line.text).join(' ');
    },
  };
}

async function buildArchive(root: string, store: string, name: string, det: string, rec: string): Promise<void> {
  const assets = ppOcrAssetsDir();
  const dir = join(root, name);
  mkdirSync(dir);
  // The archive's extra files keep their base names, so the INT8 recognizer goes in under the FP32 name.
  const recDir = join(dir, 'rec');
  mkdirSync(recDir);
  const recFile = join(recDir, 'ch_PP-OCRv4_rec_infer.onnx');
  copyFileSync(rec, recFile);
  const config = join(dir, 'model-config.yaml');
  writeFileSync(config, [`batchSize: ${BATCH}`, 'maxBatchDelay: 5', ...(args.threads ? ['handler:', `  threads: ${Number(args.threads)}`] : []), ''].join('\n'));
  await createModelArchive({
    modelName: name,
    version: '1.0',
    serializedFile: det,
    handler: 'ocr',
    extraFiles: [join(assets, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'), recFile, join(assets, 'ppocr_keys_v1.txt')],
    configFile: config,
    exportPath: store,
    format: 'default',
    force: true,
  });
}

async function register(server: Server, model: string): Promise<void> {
  const response = await fetch(`${server.management}/models?url=${model}.mar&batch_size=${BATCH}&max_batch_delay=5&initial_workers=${WORKERS}&synchronous=true`, { method: 'POST' });
  if (response.status !== 200) throw new Error(`register ${model}: ${response.status} ${await response.text()}`);
}

const f = (value: number, digits = 2) => value.toFixed(digits);

/**
 * Calibration images for `kiln quantize` of the recognizer and the detector, from seeds the
 * bench pages do not use: 48 lines (1–8 words, 16–35 px, grey ink, light noise, a third of a
 * line height of white around) in DIR/rec and 12 pages (800 px, 10 lines, 16–32 px, spacing
 * 1.3–1.9) in DIR/det.
 */
async function writeCalibration(dir: string): Promise<void> {
  mkdirSync(join(dir, 'rec'), { recursive: true });
  mkdirSync(join(dir, 'det'), { recursive: true });
  const random = seededRandom(424242);
  const name = (index: number) => `${String(index).padStart(3, '0')}.png`;
  for (let index = 0; index < 48; index++) {
    const fontSize = 16 + Math.floor(random() * 20);
    const text = randomWords(random, 1 + Math.floor(random() * 8)).join(' ');
    const line = await renderLine({ text, fontSize, contrast: 0.5 + random() * 0.5, noise: random() * 6, seed: index, padding: Math.round(fontSize * 0.35) });
    writeFileSync(join(dir, 'rec', name(index)), line.png);
  }
  for (let index = 0; index < 12; index++) {
    const fontSize = 16 + (index % 5) * 4;
    const lines = Array.from({ length: 10 }, () => {
      let words = randomWords(random, 7);
      while (words.join(' ').length * fontSize * 0.62 > 800 - 3 * fontSize) words = words.slice(0, -1);
      return words.join(' ');
    });
    const page = await renderPage({ lines, seed: 77 + index, width: 800, fontSize, lineSpacing: 1.3 + random() * 0.6 });
    writeFileSync(join(dir, 'det', name(index)), page.png);
  }
  console.log(`wrote 48 line images to ${join(dir, 'rec')} and 12 pages to ${join(dir, 'det')}`);
}

async function main(): Promise<void> {
  if (args['write-calibration']) return writeCalibration(args['write-calibration']);
  console.log(`machine: ${cpus()[0]?.model ?? '?'} × ${cpus().length}, node ${process.version}`);
  console.log(`load before: ${execSync('uptime').toString().trim()}`);
  const pages = await renderPages(PAGES);
  const chars = pages.reduce((sum, page) => sum + page.truth.length, 0);
  console.log(`pages: ${PAGES} rendered, 960 px wide, 14 lines each, ${chars} characters of truth in all`);

  const root = mkdtempSync(join(tmpdir(), 'kiln-bench-ocr-'));
  const store = join(root, 'store');
  mkdirSync(store);
  const assets = ppOcrAssetsDir();
  const variants: { model: string; det: string; rec: string }[] = [
    { model: 'ocr', det: join(assets, 'ch_PP-OCRv4_det_infer.onnx'), rec: join(assets, 'ch_PP-OCRv4_rec_infer.onnx') },
  ];
  if (args.int8) {
    const det = join(args.int8, 'ch_PP-OCRv4_det_infer.int8.onnx');
    const rec = join(args.int8, 'ch_PP-OCRv4_rec_infer.int8.onnx');
    for (const file of [det, rec]) if (!existsSync(file)) throw new Error(`--int8: ${file} is missing`);
    variants.push({ model: 'ocr-int8', det, rec });
  }
  for (const variant of variants) await buildArchive(root, store, variant.model, variant.det, variant.rec);
  const server = await startServer(root, store);
  try {
    for (const variant of variants) await register(server, variant.model);
    console.log(`server: ${variants.map((v) => v.model).join(', ')}: batchSize ${BATCH}, ${WORKERS} worker(s)${args.threads ? `, ${args.threads} intra-op threads` : ''}, ${CLIENTS} clients`);
    const engines = [...variants.map((variant) => kilnEngine(server, variant.model)), await peerEngine()];
    const totals = new Map<Engine, Totals>(engines.map((engine) => [engine, { cursor: 0, pages: 0, ms: 0, cpuMs: 0, failures: 0, answers: new Map() }]));
    for (const engine of engines) await phase(engine, pages, WARMUP_MS);
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order too, so neither side always runs first after the other.
      const order = round % 2 === 0 ? engines : [...engines].reverse();
      for (const engine of order) await phase(engine, pages, ROUND_MS, totals.get(engine));
    }
    const peer = totals.get(engines[engines.length - 1]!)!;
    const peerRate = (peer.pages / peer.ms) * 1000;
    console.log(`\n${ROUNDS} alternating rounds, ${f(SECONDS, 0)} s per engine in all\n`);
    console.log('| engine | in flight | pages/s | vs ocr-node | CPU ms / page | char accuracy | pages scored | failures |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const engine of engines) {
      const total = totals.get(engine)!;
      const rate = (total.pages / total.ms) * 1000;
      const score = scoreText([...total.answers].map(([index, text]) => ({ reference: pages[index]!.truth, hypothesis: normalize(text) })));
      console.log(
        `| ${engine.name} | ${engine.concurrency} | ${f(rate)} | ${f(rate / peerRate)}× | ${f(total.cpuMs / total.pages, 0)} | ${f(score.characterAccuracy * 100, 2)} % | ${score.lines}/${PAGES} | ${total.failures} |`,
      );
    }
  } finally {
    await server.stop();
    rmSync(root, { recursive: true, force: true });
  }
  console.log(`\nload after: ${execSync('uptime').toString().trim()}`);
}

await main();
