/**
 * `npm run bench:image`: per-image CPU and wall time of image preprocessing to a MobileNet
 * 224×224 input (torchvision's Resize 256 + CenterCrop 224, ImageNet mean/std, NCHW), old code
 * against the image module, side by side in alternating rounds, for a 224×224 JPEG and a
 * 1280×960 JPEG:
 *
 *   - old serving: `handlers/image.ts` `imageToTensor` as it was before the image module
 *     (decode to raw RGB, then a second sharp call for the cubic resize, a third for the crop,
 *     then normalize);
 *   - old calibration: `quantize/data/images.ts` `imageTensor` (decode to raw, bilinear resize
 *     in a second call, normalize);
 *   - new: `prepareImage` with the `imagenet` preset (one sharp pipeline from the encoded bytes,
 *     shrink-on-load for JPEG, normalize with hoisted per-channel constants), and the same with
 *     the old serving path's cubic kernel, like for like.
 *
 * The old modules are taken from git (`--old-ref`, default the commit before the image module)
 * into a scratch folder inside the repository, their relative imports pointed at src/.
 * Images are processed one at a time; CPU time is the whole process's (libvips' threads
 * included), so it is the cost a server pays per image.
 *
 * Usage: npm run bench:image [-- --rounds N --old-ref REV]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { table } from '../src/cli/format.js';
import { IMAGE_PRESETS, prepareImage, resolveImagePreprocess } from '../src/image/index.js';

/** The imagenet preset with the old serving path's cubic kernel: the same work, like for like. */
const CUBIC = resolveImagePreprocess({ preset: 'imagenet', kernel: 'cubic' });

const flag = (name: string, fallback: string): string => {
  const at = process.argv.indexOf(name);
  return at > 0 && process.argv[at + 1] ? process.argv[at + 1]! : fallback;
};
const ROUNDS = Number(flag('--rounds', '8'));
const OLD_REF = flag('--old-ref', '96e4ded');
const ROUND_MS = 400;
const ROOT = resolve(import.meta.dirname, '..');
const OLD_FILES = ['src/handlers/image.ts', 'src/quantize/data/images.ts', 'src/quantize/data/image-preprocess.ts'];

type Prepare = (bytes: Buffer, file: string) => Promise<unknown>;

/** Copies the old modules out of git; relative imports of files not copied point back into src/. */
async function loadOld(scratch: string): Promise<{ serving: Prepare; calibration: Prepare }> {
  for (const file of OLD_FILES) {
    const text = execFileSync('git', ['show', `${OLD_REF}:${file}`], { cwd: ROOT, encoding: 'utf8' });
    const rewritten = text.replace(/from '(\.{1,2}\/[^']+)'/g, (whole, specifier: string) => {
      const target = join(dirname(file), specifier).replace(/\.js$/, '.ts');
      if (OLD_FILES.includes(target)) return whole;
      const path = relative(dirname(join(scratch, file)), join(ROOT, target)).replace(/\.ts$/, '.js');
      return `from '${path.startsWith('.') ? path : `./${path}`}'`;
    });
    mkdirSync(dirname(join(scratch, file)), { recursive: true });
    writeFileSync(join(scratch, file), rewritten);
  }
  const handler = (await import(pathToFileURL(join(scratch, OLD_FILES[0]!)).href)) as {
    imageToTensor(bytes: Uint8Array, transform: unknown): Promise<Float32Array>;
  };
  const calib = (await import(pathToFileURL(join(scratch, OLD_FILES[1]!)).href)) as { imageTensor(file: string, preprocess: unknown): Promise<unknown> };
  const planning = (await import(pathToFileURL(join(scratch, OLD_FILES[2]!)).href)) as { parseImagePreprocess(text: string): unknown };
  const transform = { size: [224, 224], resize: 256, fit: 'crop', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: 'RGB', layout: 'NCHW' };
  const preprocess = planning.parseImagePreprocess('resize=shorter-side:256:224,mean=0.485,0.456,0.406,std=0.229,0.224,0.225');
  return { serving: (bytes) => handler.imageToTensor(bytes, transform), calibration: (_, file) => calib.imageTensor(file, preprocess) };
}

/** A photo-like JPEG: gradients plus seeded noise (noise keeps the JPEG from being trivial). */
async function jpeg(width: number, height: number): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 3);
  let seed = 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      const at = (y * width + x) * 3;
      const noise = (seed >>> 26) - 32;
      data[at] = Math.max(0, Math.min(255, (x * 255) / width + noise));
      data[at + 1] = Math.max(0, Math.min(255, (y * 255) / height + noise));
      data[at + 2] = Math.max(0, Math.min(255, 128 + Math.sin(x / 17) * 60 + Math.cos(y / 23) * 60));
    }
  }
  return sharp(data, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

interface Tally {
  cpuMs: number;
  wallMs: number;
  images: number;
}

async function round(prepare: Prepare, bytes: Buffer, file: string, tally: Tally): Promise<void> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  let images = 0;
  while (performance.now() - start < ROUND_MS) {
    await prepare(bytes, file);
    images++;
  }
  const used = process.cpuUsage(cpu);
  tally.wallMs += performance.now() - start;
  tally.cpuMs += (used.user + used.system) / 1000;
  tally.images += images;
}

async function main(): Promise<void> {
  console.log(`kiln bench:image — ${cpus()[0]?.model.trim() ?? 'unknown CPU'} (${cpus().length} cores), node ${process.version}, sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}), old code from ${OLD_REF}`);
  console.log(`${ROUNDS} alternating rounds of ${ROUND_MS} ms per implementation and image; one image at a time`);
  const scratch = mkdtempSync(join(ROOT, 'bench', '.image-old-'));
  try {
    const old = await loadOld(scratch);
    const implementations: [string, Prepare][] = [
      ['old serving (handlers/image.ts)', old.serving],
      ['old calibration (quantize/data/images.ts)', old.calibration],
      ['new, cubic (the old serving kernel)', (bytes) => prepareImage(bytes, CUBIC)],
      ['new (src/image, preset imagenet)', (bytes) => prepareImage(bytes, IMAGE_PRESETS.imagenet)],
    ];
    const rows: string[][] = [];
    for (const [width, height] of [[224, 224], [1280, 960]] as const) {
      const bytes = await jpeg(width, height);
      const file = join(scratch, `${width}x${height}.jpg`);
      writeFileSync(file, bytes);
      const tallies = implementations.map((): Tally => ({ cpuMs: 0, wallMs: 0, images: 0 }));
      for (const [, prepare] of implementations) await prepare(bytes, file); // warm-up
      for (let r = 0; r < ROUNDS; r++) {
        for (const [index, [, prepare]] of implementations.entries()) await round(prepare, bytes, file, tallies[index]!);
      }
      const last = tallies[tallies.length - 1]!;
      const newCpu = last.cpuMs / last.images;
      for (const [index, [name]] of implementations.entries()) {
        const tally = tallies[index]!;
        const cpu = tally.cpuMs / tally.images;
        rows.push([`${width}×${height} JPEG (${(bytes.length / 1024).toFixed(0)} KiB)`, name, cpu.toFixed(2), (tally.wallMs / tally.images).toFixed(2), (cpu / newCpu).toFixed(2), String(tally.images)]);
      }
    }
    console.log(table(['image', 'implementation', 'CPU ms/image', 'wall ms/image', 'CPU vs new', 'images'], rows));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
