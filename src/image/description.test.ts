import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KilnError } from '../core/errors.js';
import { IMAGE_PREPROCESS_DEFAULTS, IMAGE_PRESETS, resolveImagePreprocess } from './description.js';
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
