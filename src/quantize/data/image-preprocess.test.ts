import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KilnError } from '../../core/errors.js';
import { IMAGE_PREPROCESS_DEFAULTS, parseImagePreprocess, planResize, resolveImagePreprocess } from './image-preprocess.js';

function calibrationInvalid(pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof KilnError, String(error));
    assert.equal(error.code, 'KILN_QUANTIZE_CALIBRATION_INVALID');
    assert.match(error.message, pattern);
    return true;
  };
}

describe('parseImagePreprocess', () => {
  it('reads the PP-OCR recognition example, with lists continued after a key', () => {
    assert.deepEqual(parseImagePreprocess('resize=stretch:192x48,mean=0.5,0.5,0.5,std=0.5,0.5,0.5,order=rgb,layout=nchw'), {
      resize: { mode: 'stretch', width: 192, height: 48 },
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
      ['resize=fit:3x3', /unknown resize mode 'fit' \(use stretch:WIDTHxHEIGHT, shorter-side/],
      ['resize=stretch:192', /expected stretch:WIDTHxHEIGHT/],
      ['resize=shorter-side:256', /shorter-side takes 2 values/],
      ['resize=height:48:320:8:9', /height takes 2–3 values/],
      ['resize=multiple-of:960:-32', /'-32' is not a positive integer/],
      ['resize=shorter-side:224:256', /resize\.crop: the crop must not be larger/],
      ['resize=stretch:0x4', /resize\.width/],
      ['resize=stretch:4x4,size=3', /unknown key 'size' \(keys: resize, scale, mean, std, order, layout, pad\)/],
      ['resize=stretch:4x4,mean=1,2', /mean takes 1 or 3 numbers, not 2/],
      ['resize=stretch:4x4,std=1,0,1', /std: must not hold 0/],
      ['resize=stretch:4x4,scale=abc', /scale: 'abc' is not a number/],
      ['resize=stretch:4x4,scale=1/0', /scale: .*expected number, received Infinity/],
      ['resize=stretch:4x4,order=grb', /channelOrder: /],
      ['resize=stretch:4x4,layout=chw', /layout: /],
      ['resize=stretch:4x4,order=rgb,order=bgr', /'order' is given twice/],
      [',resize=stretch:4x4', /'' in ',resize=stretch:4x4' is not key=value/],
      ['resize=stretch:4x4,pad=1,2', /pad takes one value, not 2/],
    ];
    for (const [text, pattern] of cases) assert.throws(() => parseImagePreprocess(text), calibrationInvalid(pattern), text);
  });
});

describe('resolveImagePreprocess', () => {
  it('fills the defaults once', () => {
    const resolved = resolveImagePreprocess({ resize: { mode: 'stretch', width: 2, height: 2 } });
    assert.equal(resolved.scale, IMAGE_PREPROCESS_DEFAULTS.scale);
    assert.deepEqual(resolved.mean, IMAGE_PREPROCESS_DEFAULTS.mean);
    assert.deepEqual(resolved.std, IMAGE_PREPROCESS_DEFAULTS.std);
    assert.equal(resolved.channelOrder, 'rgb');
    assert.equal(resolved.layout, 'nchw');
    assert.equal(resolved.padValue, 0);
  });
});

describe('planResize', () => {
  it('stretch goes to the exact size', () => {
    assert.deepEqual(planResize({ mode: 'stretch', width: 192, height: 48 }, 500, 20), {
      resizeWidth: 192, resizeHeight: 48, left: 0, top: 0, width: 192, height: 48, outWidth: 192, outHeight: 48,
    });
  });

  it("shorter-side truncates the long side and centre-crops with Python's rounding (torchvision)", () => {
    // 500×375: 375 → 256, 500 → ⌊256·500/375⌋ = 341; left (341 − 224)/2 = 58.5 → 58 (half to even).
    assert.deepEqual(planResize({ mode: 'shorter-side', size: 256, crop: 224 }, 500, 375), {
      resizeWidth: 341, resizeHeight: 256, left: 58, top: 16, width: 224, height: 224, outWidth: 224, outHeight: 224,
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
