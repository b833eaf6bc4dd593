/**
 * The server the fuzz suite attacks: one real `kiln serve --foreground` (the e2e harness) with
 * three registered models, `m` (the OIP checklist's tensor model, x FP32 [N,3,4,4]), `img` (an
 * image_classifier over a tiny 8×8 model) and `imgb` (the same archive, batching up to 8
 * requests within 200 ms), one worker each, plus `spare.mar` in the store for
 * registrations the fuzzer may make and undo. Also sample images to corrupt.
 */
import sharp from 'sharp';
import { writeArchive } from '../../src/archive/write.js';
import { DataType, encodeModel, encodeTensor, makeModel, makeNode, makeValueInfo } from '../../src/onnx/index.js';
import { writeNoopArchive, writeOipModelArchive } from '../fixtures/archives.js';
import { call, startServer, type ServerUnderTest } from '../e2e/server/harness.js';

/** The models the fuzzer may never replace or remove; `imgb` is `img` batching up to 8 requests. */
export const SERVED = ['m', 'img', 'imgb'] as const;

/** `<folder>/img.mar`: x [N,3,8,8] → GlobalAveragePool → Flatten → MatMul W [3,4] → y [N,4], image_classifier. */
async function writeImageClassifierArchive(folder: string): Promise<void> {
  const model = makeModel({
    name: 'img',
    nodes: [makeNode('GlobalAveragePool', ['x'], ['pooled']), makeNode('Flatten', ['pooled'], ['flat'], { attributes: { axis: 1 } }), makeNode('MatMul', ['flat', 'W'], ['y'])],
    inputs: [makeValueInfo('x', DataType.FLOAT, ['N', 3, 8, 8])],
    outputs: [makeValueInfo('y', DataType.FLOAT, ['N', 4])],
    initializers: [encodeTensor({ name: 'W', dataType: DataType.FLOAT, dims: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => (i % 5) - 2) })],
  });
  const labels = JSON.stringify({ 0: 'red', 1: 'green', 2: 'blue', 3: 'grey' });
  await writeArchive({
    modelName: 'img',
    modelVersion: '1.0',
    handler: 'image_classifier',
    serializedFile: 'img.onnx',
    entries: [
      { name: 'img.onnx', source: { bytes: encodeModel(model) } },
      { name: 'index_to_name.json', source: { bytes: new TextEncoder().encode(labels) } },
    ],
    exportPath: folder,
    format: 'default',
    force: true,
  });
}

/** Small valid images in the formats sharp reads, for the fuzzer to send whole, cut or corrupt. */
export async function sampleImages(): Promise<Buffer[]> {
  const base = sharp({ create: { width: 13, height: 9, channels: 3, background: { r: 200, g: 40, b: 90 } } });
  return Promise.all([base.clone().png().toBuffer(), base.clone().jpeg().toBuffer(), base.clone().webp().toBuffer(), base.clone().gif().toBuffer()]);
}

/** Starts the server and registers `m` and `img` with one worker each. */
export async function startFuzzServer(): Promise<ServerUnderTest> {
  const server = await startServer();
  try {
    await writeOipModelArchive(server.store, { name: 'm', version: '1.0', weights: Float32Array.from({ length: 480 }, (_, i) => Math.sin(i)) });
    await writeImageClassifierArchive(server.store);
    await writeNoopArchive(server.store, { name: 'spare' });
    for (const [name, query] of [['m', 'url=m.mar'], ['img', 'url=img.mar'], ['imgb', 'url=img.mar&model_name=imgb&batch_size=8&max_batch_delay=200']] as const) {
      const registered = await call(`${server.management}/models?${query}&initial_workers=1&synchronous=true`, { method: 'POST' });
      if (registered.status !== 200) throw new Error(`registering ${name}: ${registered.status} ${registered.text}`);
    }
    return server;
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/** Worker identities of the served models (`id@startTime`), to prove none was replaced. */
export async function workerIdentities(server: ServerUnderTest): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const name of SERVED) {
    const described = await call(`${server.management}/models/${name}`);
    const workers = (described.body as Array<{ workers: Array<{ id: string; startTime: string; status: string }> }>)[0]!.workers;
    out[name] = workers.map((w) => `${w.id}@${w.startTime}:${w.status}`);
  }
  return out;
}
