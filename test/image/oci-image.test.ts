/**
 * The container image, built and run as far as this machine allows (opt-in: KILN_IMAGE=1, as
 * root, with Debian's buildah and debootstrap; `npm run test:image`). No container registry is
 * reachable and `podman run` is refused by the sandbox, so:
 * - the base image stands in for docker.io/library/node:20-bookworm-slim: a debootstrap'd
 *   Debian bookworm (minbase) with this machine's Node 20 and npm copied in, built once and kept
 *   as localhost/kiln-node20-base:bookworm;
 * - the Containerfile is built by `buildah bud --isolation chroot` from `npm run image:context`,
 *   its `npm ci` offline from this machine's npm cache (mounted) — no network;
 * - the image's root filesystem is mounted (`buildah mount`) and its ENTRYPOINT + CMD run under
 *   `chroot` as uid 1000, with the image's environment, its working directory and its
 *   config.properties (ports moved to free ones, and enable_model_api=true so the flow can
 *   register over REST);
 * - then the seed's curl flow runs against it (with the tokens the server wrote), and the
 *   image's HEALTHCHECK command runs inside it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createModelArchive } from '../../src/handlers/model-archive.js';
import { parseImagePreprocess, prepareImage } from '../../src/image/index.js';
import { renderDemoPage } from '../../src/cli/demo-assets.js';
import { ppOcrAssetsDir } from '../../src/cli/default-models.js';

const REPO = new URL('../../', import.meta.url).pathname;
const BASE = 'localhost/kiln-node20-base:bookworm';
const IMAGE = 'localhost/kiln:test';
const enabled = process.env['KILN_IMAGE'] === '1';

function sh(command: string, args: readonly string[], options: { cwd?: string; timeout?: number } = {}): string {
  const result = spawnSync(command, args, { encoding: 'utf8', cwd: options.cwd ?? REPO, timeout: options.timeout ?? 600_000, maxBuffer: 64 * 1024 * 1024 });
  assert.equal(result.status, 0, `${command} ${args.join(' ')} failed (${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
  return result.stdout.trim();
}

/** `count` distinct free loopback ports (all held open at once, so none is handed out twice). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((server) => (server.address() as { port: number }).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** The stand-in for the official Node 20 image: Debian minbase + this machine's node and npm. */
function ensureBaseImage(): void {
  if (spawnSync('buildah', ['inspect', '--type', 'image', BASE], { encoding: 'utf8' }).status === 0) return;
  const work = mkdtempSync(join(tmpdir(), 'kiln-base-'));
  try {
    const rootfs = join(work, 'rootfs');
    sh('debootstrap', ['--variant=minbase', 'bookworm', rootfs, 'http://deb.debian.org/debian']);
    const container = sh('buildah', ['from', 'scratch']);
    const mount = sh('buildah', ['mount', container]);
    sh('cp', ['-a', `${rootfs}/.`, `${mount}/`]);
    sh('cp', [process.execPath, join(mount, 'usr/local/bin/node')]);
    mkdirSync(join(mount, 'usr/local/lib/node_modules'), { recursive: true });
    sh('cp', ['-a', '/usr/lib/node_modules/npm', join(mount, 'usr/local/lib/node_modules/')]);
    sh('ln', ['-s', '../lib/node_modules/npm/bin/npm-cli.js', join(mount, 'usr/local/bin/npm')]);
    sh('buildah', ['config', '--env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', container]);
    sh('buildah', ['umount', container]);
    sh('buildah', ['commit', '--quiet', container, BASE]);
    sh('buildah', ['rm', container]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

interface ImageConfig {
  User: string;
  Entrypoint: string[];
  Cmd: string[];
  WorkingDir: string;
  Env: string[];
  ExposedPorts: Record<string, unknown>;
  Healthcheck?: { Test: string[] };
}

describe('the OCI image (KILN_IMAGE=1)', { skip: enabled ? false : 'opt-in: KILN_IMAGE=1 npm run test:image (root, buildah, debootstrap)' }, () => {
  const work = mkdtempSync(join(tmpdir(), 'kiln-image-'));
  let container = '';
  let root = '';
  let server: ChildProcess | undefined;
  let config: ImageConfig;
  let ports: { inference: number; management: number; metrics: number };
  let keys: { management: { key: string }; inference: { key: string } };

  before(async () => {
    assert.equal(process.getuid?.(), 0, 'the image test runs as root (buildah, chroot, bind mounts)');
    for (const tool of ['buildah', 'debootstrap', 'chroot']) assert.equal(spawnSync('which', [tool]).status, 0, `${tool} is not installed (apt-get install buildah debootstrap)`);
    ensureBaseImage();
    sh('npm', ['run', 'build']);
    const context = sh('npx', ['tsx', 'scripts/image-context.ts']).split('\n').pop()!;
    const cache = sh('npm', ['config', 'get', 'cache']);
    sh('buildah', [
      'bud', '--isolation', 'chroot', '--format', 'docker', '--layers=false',
      '-v', `${cache}:/root/.npm`, '--build-arg', `NODE_IMAGE=${BASE}`, '--build-arg', 'npm_config_offline=true',
      '-f', join(REPO, 'Containerfile'), '-t', IMAGE, context,
    ]);
    config = (JSON.parse(sh('buildah', ['inspect', '--type', 'image', IMAGE])) as { Docker: { config: ImageConfig } }).Docker.config;
    container = sh('buildah', ['from', IMAGE]);
    root = sh('buildah', ['mount', container]);
    for (const dir of ['proc', 'dev']) sh('mount', ['--bind', `/${dir}`, join(root, dir)]);

    // The image's own config.properties with free ports: nothing else changes.
    const [inference, management, metrics] = await freePorts(3);
    ports = { inference: inference!, management: management!, metrics: metrics! };
    const properties = join(root, 'home/model-server/config.properties');
    const text = readFileSync(properties, 'utf8')
      .replace(/:8080$/m, `:${ports.inference}`)
      .replace(/:8081$/m, `:${ports.management}`)
      .replace(/:8082$/m, `:${ports.metrics}`);
    // Registering over REST is off by default when management leaves loopback (TorchServe's
    // rule, and the image's default); the curl flow below registers, as a user who turned it on.
    writeFileSync(properties, `${text}enable_model_api=true\n`);

    // The seed's archives, made with kiln's own code, put where the image's model store is.
    const assets = ppOcrAssetsDir();
    const store = join(work, 'store');
    mkdirSync(store);
    await createModelArchive({
      modelName: 'ocr',
      serializedFile: join(assets, 'ch_PP-OCRv4_det_infer.onnx'),
      handler: 'ocr',
      extraFiles: ['ch_ppocr_mobile_v2.0_cls_infer.onnx', 'ch_PP-OCRv4_rec_infer.onnx', 'ppocr_keys_v1.txt'].map((file) => join(assets, file)),
      exportPath: store,
      force: true,
    });
    await createModelArchive({ modelName: 'ppocr-cls-tensor', serializedFile: join(assets, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'), handler: 'tensor', exportPath: store, force: true });
    for (const name of ['ocr.mar', 'ppocr-cls-tensor.mar']) copyFileSync(join(store, name), join(root, 'home/model-server/model-store', name));
    sh('chown', ['-R', '1000:1000', join(root, 'home/model-server')]);

    // ENTRYPOINT + CMD, as the user, in the working directory, with the image's environment only.
    const command = [...config.Entrypoint, ...config.Cmd].map((part) => `'${part}'`).join(' ');
    server = spawn('chroot', ['--userspec=1000:1000', root, '/usr/bin/env', '-i', `HOME=${config.WorkingDir}`, ...config.Env, 'sh', '-c', `cd ${config.WorkingDir} && exec ${command}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    server.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    server.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const ping = await fetch(`http://127.0.0.1:${ports.inference}/ping`).catch(() => undefined);
      if (ping?.ok) break;
      assert.equal(server.exitCode, null, `kiln exited in the image:\n${log}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    keys = JSON.parse(readFileSync(join(root, 'home/model-server/key_file.json'), 'utf8')) as typeof keys;
  });

  after(() => {
    if (server && server.exitCode === null) server.kill('SIGTERM');
    if (root) for (const dir of ['proc', 'dev']) spawnSync('umount', ['-l', join(root, dir)]);
    if (container) {
      spawnSync('buildah', ['umount', container]);
      spawnSync('buildah', ['rm', container]);
    }
    spawnSync('buildah', ['rmi', IMAGE]);
    rmSync(work, { recursive: true, force: true });
  });

  it('is configured as TorchServe\'s image is: user, paths, ports, entry point, health check', () => {
    assert.equal(config.User, 'model-server');
    assert.equal(config.WorkingDir, '/home/model-server');
    assert.deepEqual(config.Entrypoint, ['kiln']);
    assert.ok(config.Cmd.includes('--model-store=/home/model-server/model-store') && config.Cmd.includes('--ts-config=/home/model-server/config.properties'));
    assert.deepEqual(Object.keys(config.ExposedPorts).sort(), ['7070/tcp', '7071/tcp', '8080/tcp', '8081/tcp', '8082/tcp']);
    assert.match(config.Healthcheck?.Test.join(' ') ?? '', /\/ping/);
    const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
    assert.match(passwd, /^model-server:x:1000:1000:/m);
    assert.ok(!existsSync(join(root, 'opt/kiln/node_modules/onnxruntime-node/bin/napi-v6/win32')), 'other platforms\' onnxruntime binaries are pruned');
    assert.ok(!existsSync(join(root, 'opt/kiln/node_modules/tsx')), 'no dev dependencies in the image');
  });

  it('answers the seed\'s curl flow: register, predict, metrics, OIP v2', async () => {
    const management = { authorization: `Bearer ${keys.management.key}` };
    const inference = { authorization: `Bearer ${keys.inference.key}` };
    const base = `http://127.0.0.1:${ports.inference}`;
    for (const name of ['ocr', 'ppocr-cls-tensor']) {
      const registered = await fetch(`http://127.0.0.1:${ports.management}/models?url=${name}.mar&initial_workers=1&synchronous=true`, { method: 'POST', headers: management });
      assert.equal(registered.status, 200, `${await registered.text()}\nconfig.properties:\n${readFileSync(join(root, 'home/model-server/config.properties'), 'utf8')}\nports ${JSON.stringify(ports)}`);
    }
    const page = await renderDemoPage(['kiln serves models', 'from an image']);
    const ocr = await fetch(`${base}/predictions/ocr`, { method: 'POST', headers: inference, body: page });
    assert.equal(ocr.status, 200);
    const { text } = (await ocr.json()) as { text: string };
    assert.match(text, /kiln serves models/);
    const line = await renderDemoPage(['invoice 2026-11'], { rotate180: true, margin: 4 });
    const tensor = await prepareImage(line, parseImagePreprocess('ppocr-cls'));
    const infer = await fetch(`${base}/v2/models/ppocr-cls-tensor/infer`, {
      method: 'POST',
      headers: { ...inference, 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'x', shape: tensor.dims, datatype: 'FP32', data: Array.from(tensor.data) }] }),
    });
    assert.equal(infer.status, 200);
    const [scores] = ((await infer.json()) as { outputs: { data: number[] }[] }).outputs;
    assert.ok(scores!.data[1]! > scores!.data[0]!, `upside-down wins: ${JSON.stringify(scores!.data)}`);
    const metrics = await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text();
    assert.match(metrics, /ts_inference_requests_total\{[^}]*model_name="ocr"/);
  });

  it('passes its own HEALTHCHECK command, run inside the image', () => {
    const test = config.Healthcheck!.Test.slice(1).map((part) => part.replace(':8080/', `:${ports.inference}/`));
    const result = spawnSync('chroot', ['--userspec=1000:1000', root, '/usr/bin/env', '-i', ...config.Env, ...test], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
  });
});
