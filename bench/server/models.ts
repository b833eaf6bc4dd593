/**
 * The copies of the PP-OCR orientation classifier the server serves: archived as `kiln demo`
 * archives it (image_classifier) or with the `tensor` handler, then registered over the
 * management API with their batch settings.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createModelArchive } from '../../src/handlers/model-archive.js';
import { CLS_LABELS } from '../../src/cli/demo-assets.js';
import type { Server } from './child.js';
import { BATCH, IMAGES, imageModelConfig, MAX_BATCH_DELAY_MS, MODEL_PATH, OIP_MODEL, PROCESS_MODEL, TENSOR_MODEL, TENSORS, tensorModelConfig } from './options.js';

/**
 * Writes one `.mar` per copy into `store`: `cls-b1`, `cls-b8` and `cls-b8-process` (image_classifier,
 * the last with its handler in a worker process; unless --tensor-only), and the two `tensor` handler copies, {@link TENSOR_MODEL} and {@link OIP_MODEL},
 * identical but for their names.
 */
export async function buildArchives(root: string, store: string): Promise<void> {
  writeFileSync(join(root, 'index_to_name.json'), CLS_LABELS);
  const copies = [
    ...(IMAGES ? [1, BATCH].map((batchSize) => ({ name: `cls-b${batchSize}`, handler: 'image_classifier', config: imageModelConfig(batchSize), extra: true })) : []),
    ...(IMAGES ? [{ name: PROCESS_MODEL, handler: 'image_classifier', config: imageModelConfig(BATCH, 'process'), extra: true }] : []),
    ...(TENSORS ? [TENSOR_MODEL, OIP_MODEL] : []).map((name) => ({ name, handler: 'tensor', config: tensorModelConfig(), extra: false })),
  ];
  for (const copy of copies) {
    const dir = join(root, copy.name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'model-config.yaml'), copy.config);
    await createModelArchive({
      modelName: copy.name,
      version: '1.0',
      serializedFile: MODEL_PATH,
      handler: copy.handler,
      ...(copy.extra ? { extraFiles: [join(root, 'index_to_name.json')] } : {}),
      configFile: join(dir, 'model-config.yaml'),
      exportPath: store,
      format: 'default',
      force: true,
    });
  }
}

/** Registers `<model>.mar` with one worker, synchronously, and prints what the server reports. */
export async function register(server: Server, model: string, batchSize: number): Promise<void> {
  const response = await fetch(
    `${server.management}/models?url=${model}.mar&batch_size=${batchSize}&max_batch_delay=${MAX_BATCH_DELAY_MS}&initial_workers=1&synchronous=true`,
    { method: 'POST' },
  );
  if (response.status !== 200) throw new Error(`register ${model}: ${response.status} ${await response.text()}`);
  const [described] = (await (await fetch(`${server.management}/models/${model}`)).json()) as { batchSize: number; maxBatchDelay: number; workers: unknown[] }[];
  console.log(`server: ${model}: batchSize ${described?.batchSize}, maxBatchDelay ${described?.maxBatchDelay} ms, ${described?.workers.length} worker`);
}
