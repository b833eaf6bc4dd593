/**
 * `npm run bench:calibration-memory`: peak memory of calibration at 64 vs 1,024 samples.
 * Each count runs in its own child process (a fresh heap, so the peak RSS is its own), which
 * quantizes the MobileNetV2 fixture with the default (MSE histogram) calibrator on seeded
 * N(0, 1) images, and reports `process.resourceUsage().maxRSS` and the calibrator's own bytes.
 * Histograms are updated per batch and the activations dropped, so the peak should not grow
 * with the sample count (target: 1,024 samples ≤ 2× the peak of 64).
 *
 * Usage: npm run bench:calibration-memory [-- --counts 64,1024 --resolution 128 --method mse]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { seededRandom } from '../src/core/random.js';
import { calibrationConfig, createCalibrator, parseCalibrationMethod } from '../src/quantize/calibrate/index.js';
import { observeCalibration } from '../src/quantize/calibration-run.js';
import { calibrationTargets } from '../src/quantize/targets.js';
import { GraphView } from '../src/onnx/index.js';
import { PREPARE_PASSES, runPasses } from '../src/onnx/passes/index.js';
import { buildMobileNetV2 } from '../test/fixtures/mobilenet-v2.js';

const { values: flags } = parseArgs({
  options: {
    counts: { type: 'string', default: '64,1024' },
    resolution: { type: 'string', default: '128' },
    method: { type: 'string', default: 'mse' },
    child: { type: 'string' },
  },
});
const resolution = Number(flags.resolution);

async function child(count: number): Promise<void> {
  const prepared = runPasses(buildMobileNetV2({ resolution }), PREPARE_PASSES).model;
  const view = new GraphView(prepared.graph!);
  const calibrator = createCalibrator(calibrationConfig(parseCalibrationMethod(flags.method)));
  const started = performance.now();
  await observeCalibration(
    prepared,
    calibrationTargets(view),
    {
      description: `${count} images`,
      count,
      async *samples() {
        for (let seed = 1; seed <= count; seed++) {
          const random = seededRandom(seed);
          const data = Float32Array.from({ length: 3 * resolution * resolution }, () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()));
          yield { input: { type: 'float32', dims: [1, 3, resolution, resolution], data } };
        }
      },
    },
    { calibrator, intraOpThreads: 1 },
  );
  calibrator.ranges({ qmin: 0, qmax: 255, symmetric: false });
  console.log(
    JSON.stringify({
      count,
      seconds: (performance.now() - started) / 1000,
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
      calibratorKiB: calibrator.heldBytes() / 1024,
      tensors: calibrator.tensors().length,
    }),
  );
}

if (flags.child) {
  await child(Number(flags.child));
} else {
  const rows: { count: number; seconds: number; maxRssMiB: number; calibratorKiB: number; tensors: number }[] = [];
  for (const count of flags.counts.split(',').map(Number)) {
    const result = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', String(count), '--resolution', String(resolution), '--method', flags.method], {
      encoding: 'utf8',
    });
    if (result.status !== 0) throw new Error(`child for ${count} samples failed: ${result.stderr}`);
    rows.push(JSON.parse(result.stdout.trim().split('\n').pop()!));
  }
  console.log(`MobileNetV2 fixture ${resolution}×${resolution}, calibrator ${flags.method}`);
  for (const row of rows) {
    console.log(`${String(row.count).padStart(5)} samples: peak RSS ${row.maxRssMiB.toFixed(0)} MiB, calibrator ${row.calibratorKiB.toFixed(0)} KiB for ${row.tensors} tensors, ${row.seconds.toFixed(1)} s`);
  }
  const first = rows[0]!;
  const last = rows[rows.length - 1]!;
  console.log(`ratio of peaks (${last.count} vs ${first.count}): ${(last.maxRssMiB / first.maxRssMiB).toFixed(2)}× (target ≤ 2×)`);
}
