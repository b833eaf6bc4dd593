import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KilnError } from '../core/errors.js';
import { IMAGE_PREPROCESS_DEFAULTS, IMAGE_PRESETS, resolveImagePreprocess } from './description.js';
import { fixedOutputSize, planResize } from './geometry.js';
import { parseImagePreprocess } from './spec-string.js';

function preprocessInvalid(pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof KilnError, String(error));
    assert.equal(error.code, 'KILN_IMAGE_PREPROCESS_INVALID');
    assert.match(error.message, pattern);
    return true;
  };
}

describe('parseImagePreprocess', () => {
  it('reads the PP-OCR recognition example, with lists continued after a key', () => {
    assert.deepEqual(parseImagePreprocess('resize=stretch:192x48,mean=0.5,0.5,0.5,std=0.5,0.5,0.5,order=rgb,layout=nchw'), {
      resize: { mode: 'stretch', width: 192, height: 48 },
      kernel: 'linear',
      scale: 1 / 255,
      mean: [0.5, 0.5, 0.5],
      std: [0.5, 0.5, 0.5],
      channelOrder: 'rgb',
      layout: 'nchw',
      padValue: 0,
    });
  });

  it('reads every resize mode, fractions, one-number lists and upper case', () => {
    const imagenet = parseImagePreprocess('resize=shorter-side:256:224, mean=0.485,0.456,0.406, std=0.229,0.224,0.225');
    assert.deepEqual(imagenet.resize, { mode: 'shorter-side', size: 256, crop: 224 });
    assert.deepEqual(imagenet.std, [0.229, 0.224, 0.225]);
    const rec = parseImagePreprocess('resize=height:48:320:8,scale=1/127.5,mean=1,pad=-1,order=BGR,layout=NHWC');
    assert.deepEqual(rec.resize, { mode: 'height', height: 48, maxWidth: 320, multiple: 8 });
    assert.equal(rec.scale, 1 / 127.5);
    assert.deepEqual(rec.mean, [1, 1, 1]);
    assert.equal(rec.padValue, -1);
    assert.equal(rec.channelOrder, 'bgr');
    assert.equal(rec.layout, 'nhwc');
    assert.deepEqual(parseImagePreprocess('resize=height:32:100').resize, { mode: 'height', height: 32, maxWidth: 100 });
    assert.deepEqual(parseImagePreprocess('resize=multiple-of:960:32').resize, { mode: 'multiple-of', maxSide: 960, multiple: 32 });
    assert.ok(Object.isFrozen(rec) && Object.isFrozen(rec.mean));
  });

  it('says which item is wrong', () => {
    const cases: [string, RegExp][] = [
      ['mean=0.5', /has no resize=/],
      ['fancy', /is not key=value .* nor a preset \(imagenet, ppocr-det, ppocr-rec, ppocr-cls\)/],
      ['preset=fancy', /preset: unknown preset/],
      ['resize=height:48:400-320', /minWidth: must not exceed maxWidth/],
      ['resize=stretch:4x4,order=gray,mean=1,2,3', /mean takes 1 number for gray, not 3/],
      ['resize=fit:3x3', /unknown resize mode 'fit' \(use stretch:WIDTHxHEIGHT, shorter-side/],
      ['resize=stretch:192', /expected stretch:WIDTHxHEIGHT/],
      ['resize=shorter-side:256', /shorter-side takes 2 values/],
      ['resize=height:48:320:8:9', /height takes 2–3 values/],
      ['resize=multiple-of:960:-32', /'-32' is not a positive integer/],
      ['resize=shorter-side:224:256', /resize\.crop: the crop must not be larger/],
      ['resize=stretch:0x4', /resize\.width/],
      ['resize=stretch:4x4,size=3', /unknown key 'size' \(keys: preset, resize, kernel, scale, mean, std, order, layout, pad\)/],
      ['resize=stretch:4x4,mean=1,2', /mean takes 1 or 3 numbers, not 2/],
      ['resize=stretch:4x4,std=1,0,1', /std: must not hold 0/],
      ['resize=stretch:4x4,scale=abc', /scale: 'abc' is not a number/],
      ['resize=stretch:4x4,scale=1/0', /scale: .*expected number, received Infinity/],
      ['resize=stretch:4x4,order=grb', /channelOrder: /],
      ['resize=stretch:4x4,layout=chw', /layout: /],
      ['resize=stretch:4x4,kernel=nearest', /kernel: /],
      ['resize=stretch:4x4,order=rgb,order=bgr', /'order' is given twice/],
      [',resize=stretch:4x4', /'' in ',resize=stretch:4x4' is not key=value/],
      ['resize=stretch:4x4,pad=1,2', /pad takes one value, not 2/],
    ];
    for (const [text, pattern] of cases) assert.throws(() => parseImagePreprocess(text), preprocessInvalid(pattern), text);
  });
});

describe('resolveImagePreprocess', () => {
  it('fills the defaults once', () => {
    const resolved = resolveImagePreprocess({ resize: { mode: 'stretch', width: 2, height: 2 } });
    assert.equal(resolved.scale, IMAGE_PREPROCESS_DEFAULTS.scale);
    assert.deepEqual(resolved.mean, [0, 0, 0]);
    assert.deepEqual(resolved.std, [1, 1, 1]);
    assert.equal(IMAGE_PREPROCESS_DEFAULTS.mean, 0);
    assert.equal(resolved.channelOrder, 'rgb');
    assert.equal(resolved.layout, 'nchw');
    assert.equal(resolved.padValue, 0);
  });
});

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

describe('presets', () => {
  it('imagenet is torchvision Resize(256) + CenterCrop(224) with ImageNet statistics, RGB, NCHW', () => {
    assert.deepEqual(parseImagePreprocess('imagenet'), IMAGE_PRESETS.imagenet);
    assert.deepEqual(IMAGE_PRESETS.imagenet, {
      resize: { mode: 'shorter-side', size: 256, crop: 224 },
      kernel: 'linear',
      scale: 1 / 255,
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
      channelOrder: 'rgb',
      layout: 'nchw',
      padValue: 0,
    });
    // The long form the issue quotes gives the same description.
    assert.deepEqual(parseImagePreprocess('resize=shorter-side:256:224,scale=1/255,mean=0.485,0.456,0.406,std=0.229,0.224,0.225'), IMAGE_PRESETS.imagenet);
  });

  it('PP-OCR presets carry the OCR handler numbers, BGR', () => {
    assert.deepEqual(IMAGE_PRESETS['ppocr-det'].resize, { mode: 'multiple-of', maxSide: 960, multiple: 32 });
    assert.deepEqual(IMAGE_PRESETS['ppocr-rec'].resize, { mode: 'height', height: 48, minWidth: 320, maxWidth: 3200 });
    assert.deepEqual(IMAGE_PRESETS['ppocr-cls'].resize, { mode: 'height', height: 48, maxWidth: 192 });
    for (const name of ['ppocr-det', 'ppocr-rec', 'ppocr-cls'] as const) {
      assert.equal(IMAGE_PRESETS[name].channelOrder, 'bgr');
      // kiln's OCR handler has always resized with lanczos3 (sharp's default).
      assert.equal(IMAGE_PRESETS[name].kernel, 'lanczos3');
    }
    assert.deepEqual(parseImagePreprocess('resize=height:48:192,kernel=lanczos3,mean=0.5,std=0.5,order=bgr'), IMAGE_PRESETS['ppocr-cls']);
    assert.equal(parseImagePreprocess('resize=height:48:192,mean=0.5,std=0.5,order=bgr').kernel, 'linear');
  });

  it('a preset takes overrides, in the string and the mapping form alike', () => {
    const nhwc = parseImagePreprocess('preset=imagenet,layout=nhwc');
    assert.deepEqual(nhwc, { ...IMAGE_PRESETS.imagenet, layout: 'nhwc' });
    assert.deepEqual(resolveImagePreprocess({ preset: 'imagenet', layout: 'NHWC' }), nhwc);
    assert.deepEqual(resolveImagePreprocess({ preset: 'ppocr-cls', channelOrder: 'gray', mean: 0.5, std: 0.5 }).mean, [0.5]);
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
