/**
 * Issue 12, acceptance 3: kiln starts from a `/mnt/models` folder made exactly as TorchServe's
 * KServe docs make it (`config/config.properties` with an inline `model_snapshot`,
 * `model-store/*.mar`), and serves the seed's curls, KServe v1 `:predict` with and without the
 * `kserve` envelope, and the Open Inference Protocol.
 *
 * Two starts: first with TorchServe's own arguments (`--model-store=… --ts-config=…`) and nothing
 * else, so token authorization is on (the listeners are 0.0.0.0); then exactly as
 * deploy/kserve's ClusterServingRuntime starts kiln (its command, args and env, read from the
 * manifest), with `TS_SERVICE_ENVELOPE=kserve` as KServe renders it from the InferenceService's
 * `serviceEnvelope` label. The config file is TorchServe's KServe example (kubernetes/kserve/
 * config.properties), key for key, with two changes: its fixed ports (8085, 8082, 7070, 7071, and
 * the runtime's 8081) become free ones, since tests run side by side, and its snapshot holds a
 * second model, `mnist_tensor`, because the Open Inference Protocol feeds tensors (kiln's `tensor`
 * handler) while TorchServe's mnist takes images.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { parse } from 'yaml';
import { writeArchive } from '../../../src/archive/write.js';
import { DataType, encodeModel, encodeTensor, makeModel, makeNode, makeValueInfo } from '../../../src/onnx/index.js';
import { call } from './harness.js';

const KILN = new URL('../../../bin/kiln.mjs', import.meta.url).pathname;
const RUNTIME = new URL('../../../deploy/kserve/cluster-serving-runtime.yaml', import.meta.url).pathname;

const root = mkdtempSync(join(tmpdir(), 'kiln-kserve-'));
const mnt = join(root, 'mnt', 'models');
after(() => rmSync(root, { recursive: true, force: true }));

/** y = flatten(x) · W for x float [N, 3, 8, 8]: the weights of class j at pixel value i. */
const PIXELS = 3 * 8 * 8;
const W = Float32Array.from({ length: PIXELS * 10 }, (_, k) => (((Math.floor(k / 10) * 7 + (k % 10) * 3) % 11) - 5) / 50);

/** TorchServe's mnist example shape: an image classifier `mnist` (10 digit labels) and, for OIP, the same graph as `mnist_tensor`. */
async function writeModelStore(store: string): Promise<void> {
  mkdirSync(store, { recursive: true });
  const model = makeModel({
    name: 'mnist',
    nodes: [makeNode('Flatten', ['x'], ['flat'], { attributes: { axis: 1 } }), makeNode('MatMul', ['flat', 'W'], ['y'])],
    inputs: [makeValueInfo('x', DataType.FLOAT, ['N', 3, 8, 8])],
    outputs: [makeValueInfo('y', DataType.FLOAT, ['N', 10])],
    initializers: [encodeTensor({ name: 'W', dataType: DataType.FLOAT, dims: [PIXELS, 10], data: W })],
  });
  const onnx = { bytes: encodeModel(model) };
  const text = (value: string) => ({ bytes: new TextEncoder().encode(value) });
  const labels = JSON.stringify(Object.fromEntries(Array.from({ length: 10 }, (_, i) => [String(i), `digit-${i}`])));
  // `extra` is in the store but not in the snapshot: TorchServe (and kiln) then ignore load_models=all.
  for (const [name, handler] of [['mnist', 'image_classifier'], ['mnist_tensor', 'tensor'], ['extra', 'tensor']] as const) {
    await writeArchive({
      modelName: name,
      modelVersion: '1.0',
      handler,
      serializedFile: 'mnist.onnx',
      entries: [{ name: 'mnist.onnx', source: onnx }, { name: 'index_to_name.json', source: text(labels) }],
      exportPath: store,
      format: 'default',
      force: true,
    });
  }
}

/** TorchServe's kubernetes/kserve config.properties, key for key, with both models in its snapshot. */
function torchServeConfig(port: (fixed: number) => number): string {
  const snapshot = {
    name: 'startup.cfg',
    modelCount: 2,
    models: {
      mnist: { '1.0': { defaultVersion: true, marName: 'mnist.mar', minWorkers: 1, maxWorkers: 5, batchSize: 5, maxBatchDelay: 200, responseTimeout: 60 } },
      mnist_tensor: { '1.0': { defaultVersion: true, marName: 'mnist_tensor.mar', minWorkers: 1, maxWorkers: 5, batchSize: 5, maxBatchDelay: 200, responseTimeout: 60 } },
    },
  };
  return [
    '# Sample config.properties. In production config.properties at /mnt/models/config/config.properties will be used',
    `inference_address=http://0.0.0.0:${port(8085)}`,
    `management_address=http://0.0.0.0:${port(8085)}`,
    `metrics_address=http://0.0.0.0:${port(8082)}`,
    `grpc_inference_port=${port(7070)}`,
    `grpc_management_port=${port(7071)}`,
    'enable_envvars_config=true',
    'install_py_dep_per_model=true',
    'enable_metrics_api=true',
    'metrics_mode=prometheus',
    'NUM_WORKERS=1',
    'number_of_netty_threads=4',
    'job_queue_size=10',
    'load_models=all',
    // As in TorchServe's example, not where the archives are: --model-store overrides it.
    'model_store=/home/model-server/shared/model-store',
    `model_snapshot=${JSON.stringify(snapshot)}`,
    '',
  ].join('\n');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Running {
  readonly child: ChildProcess;
  readonly stdout: string;
  readonly stderr: () => string;
  stop(): Promise<number | null>;
}

/** Starts `node bin/kiln.mjs <args>` in `root` and waits for its startup block. */
async function start(args: readonly string[], env: Record<string, string>): Promise<Running> {
  const child = spawn(process.execPath, [KILN, ...args], {
    cwd: root,
    env: { ...process.env, LOG_LOCATION: join(root, 'logs'), KILN_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const stdout = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.endsWith('\n')) resolve(out);
    });
    child.once('exit', (code) => reject(new Error(`kiln exited with ${code}: ${stderr}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return {
    child,
    stdout,
    stderr: () => stderr,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** A `width`×`height` RGB PNG, each pixel `[r, g, b]` from `paint`. */
function png(paint: (x: number, y: number) => [number, number, number]): Promise<Buffer> {
  const raw = Buffer.alloc(8 * 8 * 3);
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) raw.set(paint(x, y), (y * 8 + x) * 3);
  return sharp(raw, { raw: { width: 8, height: 8, channels: 3 } }).png().toBuffer();
}

const ports = new Map<number, number>();
const port = (fixed: number): number => {
  const found = ports.get(fixed);
  assert.ok(found, `no free port stands for ${fixed}`);
  return found;
};
let images: Buffer[];

before(async () => {
  for (const fixed of [8085, 8082, 8081, 7070, 7071]) ports.set(fixed, await freePort());
  mkdirSync(join(mnt, 'config'), { recursive: true });
  writeFileSync(join(mnt, 'config', 'config.properties'), torchServeConfig(port));
  await writeModelStore(join(mnt, 'model-store'));
  images = [await png((x, y) => [x * 30, y * 30, 128]), await png((x, y) => [255 - x * 20, 40, y * 25])];
});

const json = { 'content-type': 'application/json' };
/** What `curl -d @file` sends: form encoding, whatever the file holds. */
const curlData = { 'content-type': 'application/x-www-form-urlencoded' };

describe("TorchServe's arguments, config and model store, unchanged", () => {
  let server: Running;
  let base: string;
  let keys: { inference: string; management: string };
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

  before(async () => {
    server = await start(['serve', '--foreground', `--model-store=${join(mnt, 'model-store')}`, `--ts-config=${join(mnt, 'config', 'config.properties')}`], {});
    base = `http://127.0.0.1:${port(8085)}`;
    const file = JSON.parse(readFileSync(join(root, 'key_file.json'), 'utf8')) as Record<string, { key: string }>;
    keys = { inference: file['inference']!.key, management: file['management']!.key };
  });
  after(async () => {
    assert.equal(await server.stop(), 0, server.stderr());
  });

  test('one listener serves inference and management on the config\'s shared port; every TorchServe-only key is named in the log', () => {
    assert.match(server.stdout, new RegExp(`^inference +http://0\\.0\\.0\\.0:${port(8085)}$`, 'm'));
    assert.match(server.stdout, new RegExp(`^management +http://0\\.0\\.0\\.0:${port(8085)}$`, 'm'));
    assert.match(server.stdout, new RegExp(`^metrics +http://0\\.0\\.0\\.0:${port(8082)}$`, 'm'));
    assert.match(server.stdout, new RegExp(`^grpc +grpc://127\\.0\\.0\\.1:${port(7070)}$`, 'm'));
    for (const key of ['install_py_dep_per_model', 'number_of_netty_threads', 'NUM_WORKERS', 'grpc_management_port']) {
      assert.match(server.stderr(), new RegExp(`config key ${key} is accepted and has no effect`));
    }
  });

  test("the seed's curls: /ping, /predictions/mnist with an image, management /models (with the keys token authorization asks for)", async () => {
    const ping = await call(`${base}/ping`);
    assert.equal(ping.status, 200);
    assert.deepEqual(ping.body, { status: 'Healthy' });
    const denied = await call(`${base}/predictions/mnist`, { method: 'PUT', body: images[0] });
    assert.equal(denied.status, 400);
    assert.equal(denied.body.type, 'InvalidKeyException');
    const predicted = await call(`${base}/predictions/mnist`, { method: 'PUT', body: images[0], headers: bearer(keys.inference) });
    assert.equal(predicted.status, 200, predicted.text);
    assert.equal(Object.keys(predicted.body).length, 5);
    for (const label of Object.keys(predicted.body)) assert.match(label, /^digit-\d$/);
    const models = await call(`${base}/models`, { headers: bearer(keys.management) });
    assert.equal(models.status, 200, models.text);
    assert.equal((await call(`${base}/models`, { headers: bearer(keys.inference) })).status, 400, 'management routes need the management key');
    // The inline snapshot wins over load_models=all (extra.mar stays unloaded), with its settings.
    assert.deepEqual(models.body.models.map((model: { modelName: string }) => model.modelName), ['mnist', 'mnist_tensor']);
    const [described] = (await call(`${base}/models/mnist`, { headers: bearer(keys.management) })).body;
    assert.deepEqual([described.minWorkers, described.maxWorkers, described.batchSize, described.maxBatchDelay], [1, 5, 5, 200]);
  });

  test('KServe v1 without the envelope: model list and status; :predict hands the body to the handler as sent', async () => {
    const auth = bearer(keys.inference);
    assert.deepEqual((await call(`${base}/v1/models`, { headers: auth })).body, { models: ['mnist', 'mnist_tensor'] });
    assert.deepEqual((await call(`${base}/v1/models/mnist`, { headers: auth })).body, { name: 'mnist', ready: true });
    const image = await call(`${base}/v1/models/mnist:predict`, { method: 'POST', body: images[0], headers: auth });
    const direct = await call(`${base}/predictions/mnist`, { method: 'POST', body: images[0], headers: auth });
    assert.equal(image.status, 200, image.text);
    assert.deepEqual(image.body, direct.body);
    // A JSON body sent the way `curl -d @input.json` sends it reaches the tensor handler as JSON.
    const data = Array.from({ length: PIXELS }, (_, i) => (i % 17) / 17);
    const tensor = await call(`${base}/v1/models/mnist_tensor:predict`, {
      method: 'POST',
      body: JSON.stringify({ inputs: { x: { dims: [1, 3, 8, 8], data } } }),
      headers: { ...auth, ...curlData },
    });
    assert.equal(tensor.status, 200, tensor.text);
    assertClose(tensor.body.outputs.y.data, expected(data));
  });

  test('OIP v2 infer on the same port, equal to y = x · W', async () => {
    const data = Array.from({ length: PIXELS }, (_, i) => ((i * 13) % 29) / 29);
    const result = await call(`${base}/v2/models/mnist_tensor/infer`, {
      method: 'POST',
      body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 8, 8], data }] }),
      headers: { ...json, ...bearer(keys.inference) },
    });
    assert.equal(result.status, 200, result.text);
    assert.equal(result.body.model_name, 'mnist_tensor');
    assertClose(result.body.outputs[0].data, expected(data));
  });
});

describe("deploy/kserve's ClusterServingRuntime, with the kserve envelope", () => {
  let server: Running;
  let base: string;
  const b64 = () => images.map((image) => ({ data: image.toString('base64') }));

  before(async () => {
    const runtime = parse(readFileSync(RUNTIME, 'utf8')) as { spec: { containers: { command: string[]; args: string[]; env: { name: string; value: string }[] }[] } };
    const [container] = runtime.spec.containers;
    assert.deepEqual(container!.command, ['kiln']);
    const args = container!.args.map((arg) => arg.replaceAll('/mnt/models', mnt));
    // KServe renders {{.Labels.serviceEnvelope}} from the InferenceService's label.
    const env = Object.fromEntries(container!.env.map(({ name, value }) => [name, value.replace('{{.Labels.serviceEnvelope}}', 'kserve').replace(/:(\d{4})$/, (_, fixed: string) => `:${port(Number(fixed))}`)]));
    assert.equal(env['TS_SERVICE_ENVELOPE'], 'kserve');
    server = await start(args, env);
    base = `http://127.0.0.1:${port(8085)}`;
  });
  after(async () => {
    assert.equal(await server.stop(), 0, server.stderr());
  });

  test('no token on the KServe port; management only on loopback; gRPC beyond it', async () => {
    assert.match(server.stdout, new RegExp(`^management +http://127\\.0\\.0\\.1:${port(8081)}$`, 'm'));
    assert.match(server.stdout, new RegExp(`^grpc +grpc://0\\.0\\.0\\.0:${port(7070)}$`, 'm'));
    assert.equal((await call(`${base}/ping`)).status, 200);
    assert.equal((await call(`${base}/models`)).status, 404, 'the management API is not on the KServe port');
    const models = await call(`http://127.0.0.1:${port(8081)}/models`);
    assert.equal(models.status, 200, models.text);
  });

  test('KServe v1 :predict: {"instances"} in, one handler row per instance, {"predictions"} out', async () => {
    const enveloped = await call(`${base}/v1/models/mnist:predict`, { method: 'POST', body: JSON.stringify({ instances: b64() }), headers: curlData });
    assert.equal(enveloped.status, 200, enveloped.text);
    assert.match(enveloped.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(enveloped.body.predictions.length, 2);
    // Each prediction is what the handler answers for that image alone (through /predictions, enveloped too).
    for (const [index, image] of images.entries()) {
      const alone = await call(`${base}/predictions/mnist`, { method: 'POST', body: JSON.stringify({ instances: [{ data: image.toString('base64') }] }), headers: json });
      assert.equal(alone.status, 200, alone.text);
      assert.deepEqual(enveloped.body.predictions[index], alone.body.predictions[0]);
      assert.equal(Object.keys(alone.body.predictions[0]).length, 5);
    }
    assert.notDeepEqual(enveloped.body.predictions[0], enveloped.body.predictions[1]);
    const explained = await call(`${base}/v1/models/mnist:explain`, { method: 'POST', body: JSON.stringify({ instances: b64().slice(0, 1) }), headers: json });
    assert.equal(explained.status, 200, explained.text);
    assert.deepEqual(Object.keys(explained.body), ['explanations']);
  });

  test('a body that is not a KServe v1 body is a 400 in kiln\'s error JSON; an unknown model a 404', async () => {
    const bad = await call(`${base}/v1/models/mnist:predict`, { method: 'POST', body: JSON.stringify({ inputs: b64() }), headers: json });
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.body.code, 400);
    assert.match(bad.body.message, /service_envelope=kserve expects a KServe v1 body \{"instances": \[\.\.\.\]\}/);
    const unknown = await call(`${base}/v1/models/nope:predict`, { method: 'POST', body: JSON.stringify({ instances: [] }), headers: json });
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body, { code: 404, type: 'ModelNotFoundException', message: 'Model not found: nope' });
  });

  test('the envelope leaves OIP v2 alone', async () => {
    const data = Array.from({ length: PIXELS }, (_, i) => (i % 5) / 5);
    const result = await call(`${base}/v2/models/mnist_tensor/infer`, {
      method: 'POST',
      body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 8, 8], data }] }),
      headers: json,
    });
    assert.equal(result.status, 200, result.text);
    assertClose(result.body.outputs[0].data, expected(data));
  });
});

/** y = x · W, computed here. */
function expected(x: readonly number[]): number[] {
  return Array.from({ length: 10 }, (_, j) => x.reduce((sum, value, i) => sum + value * W[i * 10 + j]!, 0));
}

function assertClose(actual: readonly number[], wanted: readonly number[]): void {
  assert.equal(actual.length, wanted.length);
  actual.forEach((value, index) => assert.ok(Math.abs(value - wanted[index]!) < 1e-4, `y[${index}] = ${value}, expected ${wanted[index]}`));
}
