/**
 * The server a user would write instead of kiln (issue 14's baseline): fastify + sharp +
 * onnxruntime-node, no batching, written the obvious way. One session per model, default session
 * options; per request one sharp call (shorter side to 256, bilinear as torchvision's Resize,
 * raw RGB out; libjpeg's shrink-on-load applies by itself), then a plain loop that centre-crops
 * 224×224 and normalizes with ImageNet mean/std into NCHW, `session.run`, softmax, top-5 JSON.
 * Kept honest: nothing here is tuned beyond what a competent Node developer writes at first go.
 *
 * Usage: node --import tsx bench/server/handwritten.ts --port 0 --model NAME=FILE [--model …]
 * Prints `listening http://127.0.0.1:PORT` on stdout once it accepts requests.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';

const SIZE = 224;
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

/** torchvision's Resize(256) + CenterCrop(224) + ToTensor + Normalize, as a [1,3,224,224] tensor. */
export async function preprocess(jpeg: Buffer): Promise<ort.Tensor> {
  const { data, info } = await sharp(jpeg).resize(256, 256, { fit: 'outside', kernel: 'linear' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const left = Math.floor((info.width - SIZE) / 2);
  const top = Math.floor((info.height - SIZE) / 2);
  const out = new Float32Array(3 * SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const from = ((y + top) * info.width + x + left) * 3;
      for (let c = 0; c < 3; c++) out[c * SIZE * SIZE + y * SIZE + x] = (data[from + c]! / 255 - MEAN[c]!) / STD[c]!;
    }
  }
  return new ort.Tensor('float32', out, [1, 3, SIZE, SIZE]);
}

/** Softmax of the logits, then the five most probable classes as `{label: probability}`. */
export function top5(logits: Float32Array): Record<string, number> {
  const max = Math.max(...logits);
  const exps = Array.from(logits, (v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  const order = exps.map((e, i) => [i, e / sum] as const).sort((a, b) => b[1] - a[1]);
  return Object.fromEntries(order.slice(0, 5).map(([i, p]) => [`class ${i}`, p]));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' }, model: { type: 'string', multiple: true, default: [] } } });
  const sessions = new Map<string, ort.InferenceSession>();
  for (const spec of values.model) {
    const [name, file] = spec.split('=') as [string, string];
    sessions.set(name, await ort.InferenceSession.create(file));
  }
  const app = Fastify({ bodyLimit: 32 * 1024 * 1024 });
  app.addContentTypeParser(['image/jpeg', 'application/octet-stream'], { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.post<{ Params: { model: string }; Body: Buffer }>('/predictions/:model', async (request, reply) => {
    const session = sessions.get(request.params.model);
    if (!session) return reply.code(404).send({ message: 'model not found' });
    const outputs = await session.run({ [session.inputNames[0]!]: await preprocess(request.body) });
    return top5(outputs[session.outputNames[0]!]!.data as Float32Array);
  });
  const address = await app.listen({ host: '127.0.0.1', port: Number(values.port) });
  console.log(`listening ${address}`);
  const stop = () => void app.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
