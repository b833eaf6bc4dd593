/**
 * image_classifier with the preprocessing folded into the model: the same top-k probabilities as
 * the float path (fold on, off, and folded at archive time), a non-image request still failing
 * alone in its batch, and `foldPreprocess: false` really feeding float32.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { openArchive } from '../archive/read.js';
import { writeArchive } from '../archive/write.js';
import { isKilnError } from '../core/errors.js';
import { createLogger, silentLogger } from '../core/log.js';
import { resolveImagePreprocess } from '../image/index.js';
import { encodeModel } from '../onnx/model-io.js';
import { buildMobileNetV2 } from '../../test/fixtures/mobilenet-v2.js';
import { BatchContext } from './context.js';
import { initializeArchiveHandler } from './from-archive.js';
import { foldForDescription } from './fold-description.js';
import { loadImageModel } from './image-fold.js';
import { createModelArchive } from './model-archive.js';
import { readModel } from '../onnx/model-io.js';
import { valueTypeOf } from '../onnx/graph.js';
import { DataType } from '../onnx/dtype.js';
import { FOLDED_PREPROCESS_KEY } from '../onnx/passes/fold-image-preprocess.js';
import type { RequestInput } from './types.js';

const scratch = mkdtempSync(join(tmpdir(), 'kiln-image-fold-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const MODEL = buildMobileNetV2({ resolution: 64, widthMultiplier: 0.5, numClasses: 10 });
const IMAGE = "  image:\n    preset: imagenet\n    resize: {mode: shorter-side, size: 72, crop: 64}\n";
const PREPROCESS = resolveImagePreprocess({ preset: 'imagenet', resize: { mode: 'shorter-side', size: 72, crop: 64 } });

async function archive(name: string, config: string, onnx: Uint8Array = encodeModel(MODEL)): Promise<string> {
  const text = (value: string) => ({ bytes: new TextEncoder().encode(value) });
  const written = await writeArchive({
    modelName: name,
    modelVersion: '1.0',
    handler: 'image_classifier',
    serializedFile: 'model.onnx',
    configFile: 'model-config.yaml',
    entries: [
      { name: 'model.onnx', source: { bytes: onnx } },
      { name: 'model-config.yaml', source: text(`batchSize: 8\nhandler:\n${config}  topk: 10\n`) },
    ],
    exportPath: scratch,
    format: 'default',
    force: true,
  });
  return written.path;
}

/** Seeded photos of different sizes (so each is resized and cropped differently). */
async function photo(width: number, height: number, seed: number): Promise<Uint8Array> {
  const data = Buffer.alloc(width * height * 3);
  let state = seed;
  for (let at = 0; at < data.length; at++) {
    state = (state * 1103515245 + 12345) >>> 0;
    data[at] = ((at % (width * 3)) * 97 + (state >>> 26)) & 0xff;
  }
  return sharp(data, { raw: { width, height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
}

let requests: RequestInput[];
before(async () => {
  requests = [
    { data: await photo(160, 120, 1) },
    { data: new TextEncoder().encode('not an image') },
    { data: await photo(90, 200, 2) },
    { data: await photo(64, 64, 3) },
  ];
});

/** Lines the handler logs while loading and answering, and its answers to the batch. */
async function serve(path: string): Promise<{ answers: readonly unknown[]; logs: Record<string, unknown>[] }> {
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const opened = await openArchive(path);
  const { handler, model } = await initializeArchiveHandler(opened, { logger: createLogger({ level: 'debug', destination }) });
  try {
    return { answers: await handler.handle(requests, new BatchContext(model, requests.map(() => ({})))), logs };
  } finally {
    await handler.close?.();
    await opened.remove();
  }
}

function assertSameTopK(actual: readonly unknown[], expected: readonly unknown[]): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((answer, index) => {
    const reference = expected[index];
    if (reference instanceof Error) {
      assert.ok(answer instanceof Error && isKilnError(answer, 'KILN_HANDLER_INPUT_INVALID'), `request ${index} fails alone`);
      return;
    }
    const got = answer as Record<string, number>;
    const want = reference as Record<string, number>;
    assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
    for (const label of Object.keys(want)) assert.ok(Math.abs(got[label]! - want[label]!) <= 1e-5, `request ${index} label ${label}: ${got[label]} vs ${want[label]}`);
  });
}

/** The handler of an archive answering `batches` one after another, as one worker would. */
async function serveEach(path: string, batches: readonly (readonly RequestInput[])[]): Promise<(readonly unknown[])[]> {
  const opened = await openArchive(path);
  const { handler, model } = await initializeArchiveHandler(opened, { logger: silentLogger() });
  try {
    const answers: (readonly unknown[])[] = [];
    for (const batch of batches) answers.push(await handler.handle(batch, new BatchContext(model, batch.map(() => ({})))));
    return answers;
  } finally {
    await handler.close?.();
    await opened.remove();
  }
}

const feeds = (logs: Record<string, unknown>[]) => logs.map((line) => line['feed']).filter((feed) => feed !== undefined);

describe('image_classifier with the preprocessing folded in', () => {
  it('answers the float path\'s top-k within 1e-5, with a bad image failing alone, and switches off', async () => {
    const off = await serve(await archive('fold-off', `${IMAGE}  foldPreprocess: false\n`));
    const on = await serve(await archive('fold-on', IMAGE));
    assert.deepEqual(feeds(off.logs), ['float']);
    assert.deepEqual(feeds(on.logs), ['pixels']);
    assert.ok(off.answers[1] instanceof Error && isKilnError(off.answers[1], 'KILN_HANDLER_INPUT_INVALID'));
    assert.equal(off.answers.filter((answer) => answer instanceof Error).length, 1);
    assertSameTopK(on.answers, off.answers);
    // Not vacuous: the three images get different answers.
    assert.notDeepEqual(off.answers[0], off.answers[2]);
  });

  it('answers each batch as a fresh handler would while it reuses batch memory, pixels and float alike', async () => {
    // Same-sized batches in a row take the buffer the previous run gave back: every row must be
    // this batch's own image, none left over from the last.
    const [a, bad, b, c] = requests;
    const batches = [[a!, bad!, b!, c!], [c!, b!, a!], [b!, b!, c!], [a!], [c!, a!, b!]];
    for (const config of [IMAGE, `${IMAGE}  foldPreprocess: false\n`]) {
      const path = await archive('reuse', config);
      const inTurn = await serveEach(path, batches);
      for (const [index, batch] of batches.entries()) {
        const [fresh] = await serveEach(path, [batch]);
        assertSameTopK(inTurn[index]!, fresh!);
      }
      assert.notDeepEqual(inTurn[1]![0], inTurn[1]![2], 'not vacuous: rows differ');
    }
  });

  it('folds the old handler.image form too (the model\'s size, centre crop, cubic)', async () => {
    const off = await serve(await archive('legacy-off', '  foldPreprocess: false\n'));
    const on = await serve(await archive('legacy-on', ''));
    assert.deepEqual([feeds(off.logs), feeds(on.logs)], [['float'], ['pixels']]);
    assertSameTopK(on.answers, off.answers);
  });

  it('feeds pixels to a model folded at archive time, without folding again', async () => {
    const folded = encodeModel(foldForDescription(MODEL, PREPROCESS));
    const off = await serve(await archive('float', `${IMAGE}  foldPreprocess: false\n`));
    for (const config of [IMAGE, `${IMAGE}  foldPreprocess: false\n`]) {
      const served = await serve(await archive('archived-fold', config, folded));
      assert.deepEqual(feeds(served.logs), ['pixels']);
      assert.ok(!served.logs.some((line) => String(line['msg']).includes('folded into the model')), 'not folded twice');
      assertSameTopK(served.answers, off.answers);
    }
  });

  it('refuses a folded model whose description it cannot give', async () => {
    const folded = encodeModel(foldForDescription(MODEL, PREPROCESS));
    const opened = await openArchive(await archive('mismatch', '  image: {preset: imagenet, resize: {mode: pad, width: 64, height: 64}}\n', folded));
    try {
      await assert.rejects(initializeArchiveHandler(opened, { logger: silentLogger() }), (error) => isKilnError(error, 'KILN_HANDLER_LOAD_FAILED'));
    } finally {
      await opened.remove();
    }
  });

  it('keeps the float path where folding does not apply (a padding resize, another size)', async () => {
    const path = join(scratch, 'model.onnx');
    writeFileSync(path, encodeModel(MODEL));
    for (const image of [{ preset: 'imagenet', resize: { mode: 'pad', width: 64, height: 64 } }, { preset: 'imagenet', resize: { mode: 'stretch', width: 32, height: 32 } }]) {
      const loaded = await loadImageModel('image_classifier', path, image, { logger: silentLogger() });
      try {
        assert.equal(loaded.feed, 'float');
        assert.equal(loaded.engine.inputs[0]!.type, 'float32');
      } finally {
        await loaded.engine.release();
      }
    }
    const folded = await loadImageModel('image_classifier', path, { preset: 'imagenet', resize: { mode: 'stretch', width: 64, height: 64 } }, { logger: silentLogger() });
    assert.deepEqual([folded.feed, folded.engine.inputs[0]!.type, folded.engine.inputs[0]!.shape], ['pixels', 'uint8', ['batch', 64, 64, 3]]);
    await folded.engine.release();
  });

  it('kiln archive --fold-preprocess writes a model that takes uint8 NHWC pixels and answers the same', async () => {
    const folder = join(scratch, 'cli');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'mobilenet.onnx'), encodeModel(MODEL));
    writeFileSync(join(folder, 'model-config.yaml'), `batchSize: 8\nhandler:\n${IMAGE}  topk: 10\n`);
    const written = await createModelArchive({
      modelName: 'folded-at-archive',
      serializedFile: join(folder, 'mobilenet.onnx'),
      handler: 'image_classifier',
      configFile: join(folder, 'model-config.yaml'),
      exportPath: folder,
      format: 'no-archive',
      foldPreprocess: true,
    });
    const { model } = readModel(join(written.path, 'mobilenet.onnx'));
    const input = valueTypeOf(model.graph!.input[0]!)!;
    assert.deepEqual([input.name, input.dataType, input.shape], ['input', DataType.UINT8, ['batch', 64, 64, 3]]);
    assert.ok(model.metadataProps.some((entry) => entry.key === FOLDED_PREPROCESS_KEY));
    const served = await serve(written.path);
    assert.deepEqual(feeds(served.logs), ['pixels']);
    assertSameTopK(served.answers, (await serve(await archive('reference', `${IMAGE}  foldPreprocess: false\n`))).answers);
    await assert.rejects(
      createModelArchive({ modelName: 'x', serializedFile: join(folder, 'mobilenet.onnx'), handler: 'tensor', exportPath: folder, format: 'no-archive', force: true, foldPreprocess: true }),
      (error) => isKilnError(error, 'KILN_CLI_USAGE'),
    );
  });

  it('kiln archive folds by default where the description allows it, and archives the model as it is otherwise', async () => {
    const folder = join(scratch, 'default');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'mobilenet.onnx'), encodeModel(MODEL));
    const inputOf = (written: { path: string }) => valueTypeOf(readModel(join(written.path, 'mobilenet.onnx')).model.graph!.input[0]!)!.dataType;
    const write = async (name: string, config: string, options: { foldPreprocess?: boolean; handler?: string } = {}) => {
      writeFileSync(join(folder, `${name}.yaml`), `handler:\n${config}`);
      const written = await createModelArchive({
        modelName: name,
        serializedFile: join(folder, 'mobilenet.onnx'),
        handler: options.handler ?? 'image_classifier',
        configFile: join(folder, `${name}.yaml`),
        exportPath: folder,
        format: 'no-archive',
        ...(options.foldPreprocess !== undefined ? { foldPreprocess: options.foldPreprocess } : {}),
      });
      return [written.preprocessFolded, inputOf(written)];
    };
    assert.deepEqual(await write('auto', IMAGE), [true, DataType.UINT8]);
    assert.deepEqual(await write('flag-off', IMAGE, { foldPreprocess: false }), [false, DataType.FLOAT]);
    assert.deepEqual(await write('config-off', `${IMAGE}  foldPreprocess: false\n`), [false, DataType.FLOAT]);
    const padded = '  image: {preset: imagenet, resize: {mode: pad, width: 64, height: 64}}\n';
    assert.deepEqual(await write('padded', padded), [false, DataType.FLOAT]);
    await assert.rejects(write('padded-required', padded, { foldPreprocess: true }), (error) => isKilnError(error, 'KILN_ONNX_FOLD_UNSUPPORTED'));
    assert.deepEqual(await write('tensor', '  batch: true\n', { handler: 'tensor' }), [false, DataType.FLOAT]);
    // A model folded already is archived as it is, not folded twice.
    writeFileSync(join(folder, 'mobilenet.onnx'), encodeModel(foldForDescription(MODEL, PREPROCESS)));
    assert.deepEqual(await write('refolded', IMAGE), [false, DataType.UINT8]);
  });
});
