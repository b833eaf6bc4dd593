import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { isKilnError } from '../../core/errors.js';
import { parseImagePreprocess, prepareImage, prepareImagePixels, type ImagePreprocess } from '../../image/index.js';
import type { HostTensor } from '../../runtime/tensors.js';
import { makeModel, makeNode, makeValueInfo } from '../build.js';
import { DataType } from '../dtype.js';
import type { ModelProto } from '../gen/onnx_pb.js';
import { valueTypeOf, type Dim } from '../graph.js';
import { buildMobileNetV2 } from '../../../test/fixtures/mobilenet-v2.js';
import { runModel } from '../../../test/fixtures/pass-harness.js';
import { encodeModel } from '../model-io.js';
import { FOLDED_PREPROCESS_KEY, foldImagePreprocess, foldedPreprocessOf, unfoldImagePreprocess, type FoldImagePreprocessOptions } from './fold-image-preprocess.js';

const F = DataType.FLOAT;

/** A 320×240 JPEG with gradients and seeded noise, so the resize and every channel have work to do. */
async function photo(): Promise<Uint8Array> {
  const width = 320;
  const height = 240;
  const data = Buffer.alloc(width * height * 3);
  let seed = 11;
  for (let at = 0; at < data.length; at += 3) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const pixel = at / 3;
    data[at] = ((pixel % width) * 255) / width;
    data[at + 1] = (Math.floor(pixel / width) * 255) / height;
    data[at + 2] = (seed >>> 24) & 0xff;
  }
  return sharp(data, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

function optionsOf(preprocess: ImagePreprocess): FoldImagePreprocessOptions {
  const { layout, channelOrder, scale, mean, std } = preprocess;
  return { layout, channelOrder, scale, mean, std };
}

/** `x → Identity → y`: after the fold, y is the prepended subgraph's normalized tensor. */
function identity(shape: readonly Dim[], opset = 13): ModelProto {
  return makeModel({ name: 'identity', nodes: [makeNode('Identity', ['x'], ['y'])], inputs: [makeValueInfo('x', F, shape)], outputs: [makeValueInfo('y', F, undefined)], opset });
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let index = 0; index < a.length; index++) worst = Math.max(worst, Math.abs(a[index]! - b[index]!));
  return worst;
}

function pixelsFeed(pixels: { dims: readonly number[]; data: Uint8Array }): HostTensor {
  return { type: 'uint8', dims: pixels.dims, data: pixels.data };
}

const VARIANTS = [
  ['imagenet, NCHW RGB', 'preset=imagenet'],
  ['stretch, NHWC BGR, own mean/std', 'resize=stretch:48x32,order=bgr,layout=nhwc,mean=0.4,0.5,0.6,std=0.2,0.25,0.3,scale=0.0039'],
  ['stretch, NCHW BGR, cubic', 'resize=stretch:40x40,order=bgr,kernel=cubic,mean=0.5,std=0.5'],
  ['gray, NCHW', 'resize=shorter-side:36:32,order=gray,mean=0.45,std=0.22'],
] as const;

describe('fold-image-preprocess', () => {
  for (const [label, spec] of VARIANTS) {
    it(`gives prepareImage's tensor from prepareImagePixels' bytes (${label}) within 1e-5`, async () => {
      const preprocess = parseImagePreprocess(spec);
      const bytes = await photo();
      const reference = await prepareImage(bytes, preprocess);
      const pixels = await prepareImagePixels(bytes, preprocess);
      const result = foldImagePreprocess(identity(['batch', ...reference.dims.slice(1)]), optionsOf(preprocess));
      const input = valueTypeOf(result.model.graph!.input[0]!)!;
      assert.equal(input.name, 'x');
      assert.equal(input.dataType, DataType.UINT8);
      assert.deepEqual(input.shape, ['batch', ...pixels.dims.slice(1)]);
      const { y } = await runModel(result.model, { x: pixelsFeed(pixels) }, 'all');
      assert.deepEqual(y!.dims, reference.dims);
      const diff = maxAbsDiff(y!.data as Float32Array, reference.data);
      assert.ok(diff <= 1e-5, `max abs diff ${diff}`);
      // The bound is not vacuous: forgetting the reorder (or the transpose) breaks it.
      if (preprocess.channelOrder === 'bgr') {
        const wrong = foldImagePreprocess(identity(['batch', ...reference.dims.slice(1)]), { ...optionsOf(preprocess), channelOrder: 'rgb' });
        const out = await runModel(wrong.model, { x: pixelsFeed(pixels) });
        assert.ok(maxAbsDiff(out['y']!.data as Float32Array, reference.data) > 0.1);
      }
    });
  }

  it('runs MobileNetV2 on pixels with the logits of the float path (NCHW RGB and BGR)', async () => {
    const bytes = await photo();
    for (const spec of ['resize=shorter-side:72:64,mean=0.485,0.456,0.406,std=0.229,0.224,0.225', 'resize=stretch:64x64,order=bgr,mean=0.406,0.456,0.485,std=0.225,0.224,0.229']) {
      const preprocess = parseImagePreprocess(spec);
      const model = buildMobileNetV2({ resolution: 64, widthMultiplier: 0.5, numClasses: 100 });
      const reference = await prepareImage(bytes, preprocess);
      const pixels = await prepareImagePixels(bytes, preprocess);
      const folded = foldImagePreprocess(model, optionsOf(preprocess));
      assert.deepEqual(
        folded.model.graph!.node.slice(0, folded.changes).map((node) => node.opType),
        preprocess.channelOrder === 'bgr' ? ['Gather', 'Transpose', 'Cast', 'Mul', 'Add'] : ['Transpose', 'Cast', 'Mul', 'Add'],
      );
      const want = (await runModel(model, { input: { type: 'float32', dims: reference.dims, data: reference.data } }, 'all'))['logits']!.data as Float32Array;
      const got = (await runModel(folded.model, { input: pixelsFeed(pixels) }, 'all'))['logits']!.data as Float32Array;
      const diff = maxAbsDiff(got, want);
      assert.ok(diff <= 1e-5, `${spec}: max abs logit diff ${diff} (largest |logit| ${Math.max(...want.map(Math.abs))})`);
    }
  });

  it('records what it folded in the model metadata and leaves the input model alone', () => {
    const source = identity([1, 3, 8, 8]);
    const result = foldImagePreprocess(source, { layout: 'nchw', channelOrder: 'rgb', scale: 1, mean: [0, 0, 0], std: [1, 1, 1] });
    const entry = result.model.metadataProps.find((prop) => prop.key === FOLDED_PREPROCESS_KEY);
    assert.deepEqual(JSON.parse(entry!.value), { layout: 'nchw', channelOrder: 'rgb', scale: 1, mean: [0, 0, 0], std: [1, 1, 1], input: 'x' });
    assert.equal(valueTypeOf(source.graph!.input[0]!)!.dataType, F);
    assert.equal(source.graph!.node.length, 1);
  });

  const rgb = { layout: 'nchw', channelOrder: 'rgb', scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] } as const;
  for (const [label, model, options] of [
    ['an int input', makeModel({ name: 'i', nodes: [makeNode('Identity', ['x'], ['y'])], inputs: [makeValueInfo('x', DataType.INT32, [1, 3, 8, 8])], outputs: [makeValueInfo('y', DataType.INT32, undefined)] }), rgb],
    ['rank 3', identity([3, 8, 8]), rgb],
    ['a dynamic height', identity([1, 3, 'h', 8]), rgb],
    ['4 channels', identity([1, 4, 8, 8]), rgb],
    ['gray options on 3 channels', identity([1, 3, 8, 8]), { ...rgb, channelOrder: 'gray', mean: [0], std: [1] }],
    ['NHWC options on an NCHW input', identity([1, 3, 8, 8]), { ...rgb, layout: 'nhwc' }],
    ['opset 6', identity([1, 3, 8, 8], 6), rgb],
  ] as const) {
    it(`refuses ${label} with KILN_ONNX_FOLD_UNSUPPORTED`, () => {
      assert.throws(() => foldImagePreprocess(model, options as FoldImagePreprocessOptions), (error) => isKilnError(error, 'KILN_ONNX_FOLD_UNSUPPORTED'));
    });
  }

  it('unfolds what it folded: the same graph and input as before, and folding again gives the same bytes (RGB NCHW, BGR NHWC)', () => {
    const cases: [ModelProto, FoldImagePreprocessOptions][] = [
      [buildMobileNetV2({ resolution: 64, widthMultiplier: 0.5, numClasses: 10 }), { layout: 'nchw', channelOrder: 'rgb', scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }],
      [identity(['batch', 16, 16, 3]), { layout: 'nhwc', channelOrder: 'bgr', scale: 1, mean: [1, 2, 3], std: [4, 5, 6] }],
    ];
    for (const [model, options] of cases) {
      const folded = foldImagePreprocess(model, options).model;
      const unfolded = unfoldImagePreprocess(folded)!;
      assert.deepEqual(unfolded.options, { ...options, input: valueTypeOf(model.graph!.input[0]!)!.name });
      assert.equal(foldedPreprocessOf(unfolded.model), undefined);
      assert.deepEqual(valueTypeOf(unfolded.model.graph!.input[0]!), valueTypeOf(model.graph!.input[0]!));
      assert.deepEqual(unfolded.model.graph!.node.map((node) => [node.opType, ...node.input, ...node.output]), model.graph!.node.map((node) => [node.opType, ...node.input, ...node.output]));
      assert.deepEqual(unfolded.model.graph!.initializer.map((tensor) => tensor.name), model.graph!.initializer.map((tensor) => tensor.name));
      assert.deepEqual(encodeModel(foldImagePreprocess(unfolded.model, unfolded.options).model), encodeModel(folded));
    }
  });

  it('leaves a model it did not fold alone, and refuses metadata that does not match the graph', () => {
    assert.equal(unfoldImagePreprocess(identity([1, 3, 8, 8])), undefined);
    const folded = foldImagePreprocess(identity([1, 3, 8, 8]), rgb).model;
    const withoutCast = { ...folded, graph: { ...folded.graph!, node: folded.graph!.node.filter((node) => node.opType !== 'Cast') } } as ModelProto;
    assert.throws(() => unfoldImagePreprocess(withoutCast), (error) => isKilnError(error, 'KILN_ONNX_FOLD_UNSUPPORTED') && /does not feed one Cast/.test((error as Error).message));
    const garbled = { ...folded, metadataProps: folded.metadataProps.map((entry) => ({ ...entry, value: '{"layout":"sideways"}' })) } as ModelProto;
    assert.throws(() => unfoldImagePreprocess(garbled), (error) => isKilnError(error, 'KILN_ONNX_FOLD_UNSUPPORTED') && /does not describe/.test((error as Error).message));
  });
});
