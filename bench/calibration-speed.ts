/**
 * `npm run bench:calibration-speed`: wall time and peak memory of the real `kiln quantize` CLI on
 * the MobileNetV2 fixture (224², 1000 classes) calibrated on a folder of JPEG photos with
 * `--preprocess imagenet`, for each calibration method and sample count. Each run is a child
 * process (`node CLI quantize model.onnx -o out.onnx --calib DIR --preprocess imagenet --method M
 * --limit N`); its peak RSS is the child's own `process.resourceUsage().maxRSS`, written on exit by
 * a preload hook, so nothing is sampled and nothing is missed. Several CLIs (e.g. a build of the
 * previous commit and the current one) run in alternating rounds on the same files.
 *
 * The images are photo-like and deterministic: smooth colour fields, a few soft blobs and
 * edges, sensor-like noise, encoded as JPEG (quality 90) at 320×240 by default, so shrink-on-load
 * does not apply and decoding costs what a small photo costs.
 *
 * Usage: npm run build && npm run bench:calibration-speed [-- --counts 64,512 --methods mse,minmax
 *   --cli after=dist/cli/bin.js,before=build/before/cli/bin.js --rounds 1 --size 320x240
 *   --dir /tmp/kiln-bench-calib --profile]
 * `--profile` adds `--cpu-prof` to each child and prints the heaviest functions by self time.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { seededRandom } from '../src/core/random.js';
import { writeModel } from '../src/onnx/index.js';
import { buildMobileNetV2 } from '../test/fixtures/mobilenet-v2.js';

const { values: flags } = parseArgs({
  options: {
    counts: { type: 'string', default: '64,512' },
    methods: { type: 'string', default: 'mse,minmax,entropy,percentile' },
    cli: { type: 'string', default: 'dist/cli/bin.js' },
    rounds: { type: 'string', default: '1' },
    size: { type: 'string', default: '320x240' },
    dir: { type: 'string', default: '/tmp/kiln-bench-calib' },
    profile: { type: 'boolean', default: false },
    extra: { type: 'string', default: '' },
  },
});

const [width, height] = flags.size.split('x').map(Number) as [number, number];
const counts = flags.counts.split(',').map(Number);
const methods = flags.methods.split(',');
const clis = flags.cli.split(',').map((entry) => {
  const [name, path] = entry.includes('=') ? entry.split('=') : [entry, entry];
  return { name: name!, path: resolve(path!) };
});

/** One photo-like RGB image: a colour gradient, soft blobs with edges, and noise. */
function photo(seed: number): Buffer {
  const random = seededRandom(seed);
  const pixels = Buffer.alloc(width * height * 3);
  const base = [random() * 255, random() * 255, random() * 255];
  const slope = [random() - 0.5, random() - 0.5, random() - 0.5];
  const blobs = Array.from({ length: 6 }, () => ({
    x: random() * width,
    y: random() * height,
    r: (0.1 + random() * 0.3) * Math.min(width, height),
    colour: [random() * 255, random() * 255, random() * 255],
    hard: random() < 0.5,
  }));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const colour = base.map((value, channel) => value + slope[channel]! * (x + y));
      for (const blob of blobs) {
        const distance = Math.hypot(x - blob.x, y - blob.y) / blob.r;
        const weight = blob.hard ? (distance < 1 ? 0.9 : 0) : Math.exp(-distance * distance);
        for (let channel = 0; channel < 3; channel++) colour[channel] = colour[channel]! * (1 - weight) + blob.colour[channel]! * weight;
      }
      const noise = (random() - 0.5) * 12;
      for (let channel = 0; channel < 3; channel++) pixels[(y * width + x) * 3 + channel] = Math.max(0, Math.min(255, Math.round(colour[channel]! + noise)));
    }
  }
  return pixels;
}

async function prepareData(): Promise<{ model: string; images: string }> {
  const root = resolve(flags.dir);
  const images = join(root, `jpeg-${width}x${height}`);
  mkdirSync(images, { recursive: true });
  const model = join(root, 'mobilenet-v2.onnx');
  if (!existsSync(model)) writeModel(buildMobileNetV2(), model);
  const wanted = Math.max(...counts);
  const have = readdirSync(images).length;
  for (let index = have; index < wanted; index++) {
    await sharp(photo(index + 1), { raw: { width, height, channels: 3 } })
      .jpeg({ quality: 90 })
      .toFile(join(images, `img-${String(index).padStart(5, '0')}.jpg`));
  }
  return { model, images };
}

interface Run {
  readonly seconds: number;
  readonly peakMiB: number;
  /** User + system CPU of the child, all threads (less sensitive to a loaded machine than wall time). */
  readonly cpuSeconds: number;
}

/** Runs the CLI once in a child; the preload hook writes its maxRSS (KiB) to `rssFile` on exit. */
function runCli(cli: string, model: string, images: string, method: string, count: number, hook: string, scratch: string): Promise<Run> {
  const rssFile = join(scratch, 'rss.txt');
  rmSync(rssFile, { force: true });
  const profileDir = join(scratch, `prof-${method}-${count}`);
  rmSync(profileDir, { recursive: true, force: true });
  const args = [
    '--import',
    hook,
    ...(flags.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []),
    cli,
    'quantize',
    model,
    '-o',
    join(scratch, 'out.onnx'),
    '--force',
    '--json',
    '--calib',
    images,
    '--preprocess',
    'imagenet',
    '--method',
    method,
    '--limit',
    String(count),
    ...(flags.extra ? flags.extra.split(' ') : []),
  ];
  const started = performance.now();
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, KILN_BENCH_RSS_FILE: rssFile }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stdout.resume();
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('close', (code) => {
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0) return fail(new Error(`${cli} ${method} ${count}: exit ${code}: ${err.trim().split('\n').pop()}`));
      const usage = JSON.parse(readFileSync(rssFile, 'utf8')) as { maxRSS: number; cpuMicros: number };
      const peakMiB = usage.maxRSS / 1024;
      const cpuSeconds = usage.cpuMicros / 1e6;
      if (flags.profile) printProfile(profileDir, `${cli} ${method} ${count}`);
      done({ seconds, peakMiB, cpuSeconds });
    });
  });
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly hitCount?: number;
}

/** The top functions by self time of the `.cpuprofile` in `dir`. */
function printProfile(dir: string, label: string): void {
  const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
  if (!file) return;
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byNode = new Map<number, number>();
  profile.samples.forEach((id, index) => byNode.set(id, (byNode.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));
  const bySite = new Map<string, number>();
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    const site = `${functionName || '(anonymous)'} ${url.replace(/^.*\/(src|dist|node_modules)\//, '$1/')}:${lineNumber + 1}`;
    bySite.set(site, (bySite.get(site) ?? 0) + (byNode.get(node.id) ?? 0));
  }
  const total = [...bySite.values()].reduce((sum, value) => sum + value, 0);
  console.log(`profile ${label}: ${(total / 1e6).toFixed(1)} s sampled on the main thread`);
  for (const [site, micros] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
    console.log(`  ${((100 * micros) / total).toFixed(1).padStart(5)} %  ${(micros / 1e6).toFixed(2).padStart(6)} s  ${site}`);
  }
  rmSync(dir, { recursive: true, force: true });
}

const { model, images } = await prepareData();
const scratch = join(resolve(flags.dir), 'runs');
mkdirSync(scratch, { recursive: true });
const hook = join(scratch, 'peak-rss-hook.mjs');
writeFileSync(
  hook,
  `import { writeFileSync } from 'node:fs';\nprocess.on('exit', () => { const usage = process.resourceUsage(); writeFileSync(process.env.KILN_BENCH_RSS_FILE, JSON.stringify({ maxRSS: usage.maxRSS, cpuMicros: usage.userCPUTime + usage.systemCPUTime })); });\n`,
);
console.log(`kiln quantize, MobileNetV2 fixture 224², --preprocess imagenet, JPEG ${width}×${height}; ${cpus().length} CPUs (${cpus()[0]?.model}); load ${loadavg().map((value) => value.toFixed(2)).join(' ')}`);
const rows: { cli: string; method: string; count: number; runs: Run[] }[] = [];
for (let round = 0; round < Number(flags.rounds); round++) {
  for (const method of methods) {
    for (const count of counts) {
      for (const cli of clis) {
        const run = await runCli(cli.path, model, images, method, count, hook, scratch);
        let row = rows.find((entry) => entry.cli === cli.name && entry.method === method && entry.count === count);
        if (!row) rows.push((row = { cli: cli.name, method, count, runs: [] }));
        row.runs.push(run);
        console.log(
          `  round ${round + 1} ${cli.name.padEnd(8)} ${method.padEnd(10)} N=${String(count).padStart(4)}: ${run.seconds.toFixed(1).padStart(6)} s wall, ${run.cpuSeconds.toFixed(1).padStart(6)} s CPU, peak RSS ${run.peakMiB.toFixed(0)} MiB`,
        );
      }
    }
  }
}
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
console.log(`\nmedians (load now ${loadavg().map((value) => value.toFixed(2)).join(' ')})`);
console.log('cli       method      N     wall s    CPU s  peak MiB  peak vs smallest N');
for (const row of rows) {
  const smallest = rows.find((entry) => entry.cli === row.cli && entry.method === row.method && entry.count === Math.min(...counts))!;
  const peak = median(row.runs.map((run) => run.peakMiB));
  console.log(
    `${row.cli.padEnd(9)} ${row.method.padEnd(10)} ${String(row.count).padStart(4)} ${median(row.runs.map((run) => run.seconds)).toFixed(1).padStart(8)} ${median(row.runs.map((run) => run.cpuSeconds)).toFixed(1).padStart(8)} ${peak.toFixed(0).padStart(9)}  ${(peak / median(smallest.runs.map((run) => run.peakMiB))).toFixed(2)}×`,
  );
}
