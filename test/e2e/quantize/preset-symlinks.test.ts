/**
 * `kiln quantize model.onnx --preprocess imagenet --calib photos/` on a folder of symbolic links
 * (to photos elsewhere, one relative, one to a JPEG with EXIF rotation), as the image module's
 * preset and symlink rule promise: the real binary, a MobileNetV2-shaped model with a 224 input.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import sharp from 'sharp';
import { encodeModel } from '../../../src/onnx/index.js';
import { buildMobileNetV2 } from '../../fixtures/mobilenet-v2.js';

const KILN = new URL('../../../bin/kiln.mjs', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'kiln-quantize-preset-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function kiln(...args: string[]) {
  return spawnSync(process.execPath, [KILN, ...args], { encoding: 'utf8', env: { ...process.env, KILN_DEBUG: '' } });
}

it('quantizes with --preprocess imagenet from a folder of symbolic links', async () => {
  const library = join(dir, 'library');
  const photos = join(dir, 'photos');
  mkdirSync(library);
  mkdirSync(photos);
  for (let index = 0; index < 4; index++) {
    const image = sharp({ create: { width: 320 + 40 * index, height: 240, channels: 3, background: { r: 40 * index, g: 120, b: 200 - 30 * index } } });
    await image.jpeg().withMetadata({ orientation: index === 3 ? 6 : 1 }).toFile(join(library, `photo-${index}.jpg`));
  }
  symlinkSync(join(library, 'photo-0.jpg'), join(photos, 'a.jpg'));
  symlinkSync('../library/photo-1.jpg', join(photos, 'b.jpg'));
  symlinkSync(join(library, 'photo-2.jpg'), join(photos, 'c.JPG'));
  symlinkSync(join(library, 'photo-3.jpg'), join(photos, 'd-rotated.jpeg'));
  symlinkSync(library, join(photos, 'a-folder-link'));
  const model = join(dir, 'mobilenet.onnx');
  writeFileSync(model, encodeModel(buildMobileNetV2({ widthMultiplier: 0.35, numClasses: 10 })));
  const output = join(dir, 'mobilenet.int8.onnx');
  const run = kiln('quantize', model, '-o', output, '--preprocess', 'imagenet', '--calib', photos, '--method', 'minmax', '--sqnr-samples', '2', '--json');
  assert.equal(run.status, 0, run.stderr);
  assert.ok(existsSync(output));
  const report = JSON.parse(run.stdout) as { calibration: { samples: number } };
  // Four linked photos; the link to a folder is skipped like a real subfolder.
  assert.equal(report.calibration.samples, 4);
});
