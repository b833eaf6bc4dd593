import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IMAGE_PRESETS } from './description.js';
import { fixedOutputSize, planResize } from './geometry.js';

describe('planResize', () => {
  it('stretch goes to the exact size', () => {
    assert.deepEqual(planResize({ mode: 'stretch', width: 192, height: 48 }, 500, 20), {
      resizeWidth: 192, resizeHeight: 48, left: 0, top: 0, width: 192, height: 48, x: 0, y: 0, outWidth: 192, outHeight: 48,
    });
  });

  it("shorter-side truncates the long side and centre-crops with Python's rounding (torchvision)", () => {
    // 500×375: 375 → 256, 500 → ⌊256·500/375⌋ = 341; left (341 − 224)/2 = 58.5 → 58 (half to even).
    assert.deepEqual(planResize({ mode: 'shorter-side', size: 256, crop: 224 }, 500, 375), {
      resizeWidth: 341, resizeHeight: 256, left: 58, top: 16, width: 224, height: 224, x: 0, y: 0, outWidth: 224, outHeight: 224,
    });
    const portrait = planResize({ mode: 'shorter-side', size: 256, crop: 224 }, 300, 400);
    assert.deepEqual([portrait.resizeWidth, portrait.resizeHeight, portrait.left, portrait.top], [256, 341, 16, 58]);
  });

  it('height keeps the aspect up to maxWidth and pads to maxWidth, or to the next multiple', () => {
    const plan = planResize({ mode: 'height', height: 48, maxWidth: 320 }, 100, 32);
    assert.deepEqual([plan.resizeWidth, plan.resizeHeight, plan.width, plan.outWidth, plan.outHeight], [150, 48, 150, 320, 48]);
    assert.equal(planResize({ mode: 'height', height: 48, maxWidth: 320, multiple: 32 }, 100, 32).outWidth, 160);
    assert.equal(planResize({ mode: 'height', height: 48, maxWidth: 320 }, 1000, 32).resizeWidth, 320);
    assert.equal(planResize({ mode: 'height', height: 48, maxWidth: 320 }, 1, 1000).resizeWidth, 1);
  });

  it('multiple-of limits the long side and rounds each side to the multiple (PP-OCR det)', () => {
    const big = planResize({ mode: 'multiple-of', maxSide: 960, multiple: 32 }, 1280, 720);
    assert.deepEqual([big.resizeWidth, big.resizeHeight, big.outWidth, big.outHeight], [960, 544, 960, 544]);
    const small = planResize({ mode: 'multiple-of', maxSide: 960, multiple: 32 }, 100, 20);
    assert.deepEqual([small.resizeWidth, small.resizeHeight], [96, 32]);
  });
});

describe('planResize, the other modes', () => {
  it('pad letterboxes: fitted inside, centred, never cropped', () => {
    assert.deepEqual(planResize({ mode: 'pad', width: 224, height: 224 }, 640, 480), {
      resizeWidth: 224, resizeHeight: 168, left: 0, top: 0, width: 224, height: 168, x: 0, y: 28, outWidth: 224, outHeight: 224,
    });
    const tall = planResize({ mode: 'pad', width: 100, height: 50 }, 10, 40);
    assert.deepEqual([tall.resizeWidth, tall.resizeHeight, tall.x, tall.y], [13, 50, 43, 0]);
    assert.deepEqual(fixedOutputSize({ mode: 'pad', width: 100, height: 50 }), [50, 100]);
  });

  it('height with minWidth pads short lines to minWidth and lets long ones widen the tensor (PP-OCR rec)', () => {
    const rec = IMAGE_PRESETS['ppocr-rec'].resize;
    const short = planResize(rec, 100, 32);
    assert.deepEqual([short.resizeWidth, short.outWidth, short.outHeight], [150, 320, 48]);
    const long = planResize(rec, 1000, 32);
    assert.deepEqual([long.resizeWidth, long.outWidth], [1500, 1500]);
    assert.equal(planResize(rec, 100_000, 10).outWidth, 3200);
    assert.equal(fixedOutputSize(rec), undefined);
    assert.deepEqual(fixedOutputSize(IMAGE_PRESETS['ppocr-cls'].resize), [48, 192]);
  });

  it('multiple-of rounds halves to even, as PaddleOCR (Python) does', () => {
    // 80 · 1 / 32 = 2.5 → 2 (even), so 64; 112 / 32 = 3.5 → 4, so 128.
    const plan = planResize({ mode: 'multiple-of', maxSide: 960, multiple: 32 }, 80, 112);
    assert.deepEqual([plan.resizeWidth, plan.resizeHeight], [64, 128]);
  });
});
