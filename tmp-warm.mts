import { readModel, encodeModel } from './dist/onnx/model-io.js';
import { foldForDescription } from './dist/handlers/image-fold.js';
import { resolveHandlerImage } from './dist/handlers/image-config.js';
import { Engine } from './dist/runtime/engine.js';
import { buildMobileNetV2 } from './test/fixtures/mobilenet-v2.js';
import { encodeModel as enc2 } from './src/onnx/model-io.js';
import { writeFileSync } from 'node:fs';
const warm = process.argv[2];
if (warm) {
  const tiny = buildMobileNetV2({ resolution: 32, widthMultiplier: 0.25, numClasses: 10 });
  writeFileSync('/tmp/cs/tiny.onnx', enc2(tiny));
  const t0 = performance.now();
  if (warm.includes('codec')) { const { model } = readModel('/tmp/cs/tiny.onnx'); const pre = resolveHandlerImage('image_classifier', undefined, [1, 3, 32, 32]); encodeModel(foldForDescription(model, pre)); }
  if (warm.includes('ort')) { const e = await Engine.load('/tmp/cs/tiny.onnx', {}); await e.release(); }
  console.log('warm-up', (performance.now() - t0).toFixed(1));
}
let t = performance.now(); const start = t; const lap = (l: string) => { const n = performance.now(); process.stdout.write(`${l} ${(n - t).toFixed(1)}  `); t = n; };
const { model } = readModel('/tmp/cs/mnv2.onnx'); lap('readModel');
const pre = resolveHandlerImage('image_classifier', undefined, [1, 3, 224, 224]);
const folded = foldForDescription(model, pre); lap('fold');
const bytes = encodeModel(folded); lap('encode');
const e = await Engine.load(bytes, {}); lap('load');
console.log('total', (performance.now() - start).toFixed(1));
