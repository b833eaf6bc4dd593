import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KilnError } from '../core/errors.js';
import { IMAGE_PRESETS, parseImagePreprocess } from '../image/index.js';
import { resolveHandlerImage } from './image-config.js';

function loadFailed(pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof KilnError, String(error));
    assert.equal(error.code, 'KILN_HANDLER_LOAD_FAILED');
    assert.match(error.message, pattern);
    return true;
  };
}

describe('handler.image', () => {
  it('takes a preset name, the --preprocess string or the mapping form', () => {
    assert.deepEqual(resolveHandlerImage('image_classifier', 'imagenet', []), IMAGE_PRESETS.imagenet);
    assert.deepEqual(resolveHandlerImage('image_classifier', 'resize=stretch:192x48,order=bgr', []), parseImagePreprocess('resize=stretch:192x48,order=bgr'));
    assert.deepEqual(
      resolveHandlerImage('image_classifier', { resize: { mode: 'pad', width: 64, height: 64 }, mean: 0.5, std: 0.5, channelOrder: 'BGR', layout: 'NHWC' }, []),
      parseImagePreprocess('resize=pad:64x64,mean=0.5,std=0.5,order=bgr,layout=nhwc'),
    );
  });

  it('reads the old form with its old defaults: model input size, centre crop, ImageNet, cubic', () => {
    assert.deepEqual(
      resolveHandlerImage('image_classifier', undefined, ['batch', 3, 224, 224]),
      parseImagePreprocess('resize=shorter-side:224:224,kernel=cubic,mean=0.485,0.456,0.406,std=0.229,0.224,0.225'),
    );
    assert.deepEqual(resolveHandlerImage('image_classifier', { resize: 256 }, [1, 3, 224, 224]).resize, { mode: 'shorter-side', size: 256, crop: 224 });
    assert.deepEqual(resolveHandlerImage('image_classifier', { size: [48, 192], fit: 'stretch', layout: 'NHWC' }, []).resize, { mode: 'stretch', width: 192, height: 48 });
  });

  it('turns the old form\'s mean/std by source colour into tensor-channel order for BGR', () => {
    const old = resolveHandlerImage('image_classifier', { size: [48, 192], fit: 'pad', mean: [0.1, 0.2, 0.3], std: [1, 2, 3], channelOrder: 'BGR' }, []);
    assert.deepEqual(old.resize, { mode: 'height', height: 48, maxWidth: 192 });
    assert.deepEqual([old.channelOrder, old.mean, old.std], ['bgr', [0.3, 0.2, 0.1], [3, 2, 1]]);
  });

  it('names what is wrong', () => {
    assert.throws(() => resolveHandlerImage('image_classifier', undefined, ['batch', 3, 'h', 'w']), loadFailed(/image_classifier: handler.image: the model's input has a dynamic size/));
    assert.throws(() => resolveHandlerImage('image_classifier', { size: [48, 192] }, []), loadFailed(/fit: crop takes a square size, not 48×192/));
    assert.throws(() => resolveHandlerImage('image_classifier', { size: [48, 192], fit: 'zoom' }, []), loadFailed(/handler.image: fit: /));
    assert.throws(() => resolveHandlerImage('image_classifier', 'fancy', []), loadFailed(/nor a preset/));
    assert.throws(() => resolveHandlerImage('image_classifier', { preset: 'imagenet', std: 0 }, []), loadFailed(/std: must not hold 0/));
  });
});
