import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { formatProperties, parseProperties } from '../core/properties.js';
import { ignoredProperties } from './config-ignored.js';
import {
  DEFAULT_SERVER_CONFIG,
  findConfigFile,
  findLatestSnapshot,
  locateConfigFile,
  isLoopback,
  isModelApiEnabled,
  isTokenAuthRequired,
  loadsModelsAtStart,
  resolveServerConfig,
  type ListenAddress,
  type ServerConfigOptions,
} from './config.js';

const scratch = mkdtempSync(join(tmpdir(), 'kiln-config-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const fromText = (text: string, rest: Omit<ServerConfigOptions, 'properties'> = {}) =>
  resolveServerConfig({ env: {}, ...rest, properties: parseProperties(text) });

function assertInvalid(run: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(run, (error: Error & { code?: string }) => {
    assert.equal(error.code, 'KILN_SERVE_CONFIG_INVALID');
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  });
}

test('nothing set gives the defaults, frozen', () => {
  const config = resolveServerConfig({ env: {} });
  assert.deepEqual(config, DEFAULT_SERVER_CONFIG);
  assert.deepEqual(config.inferenceAddress, { protocol: 'http', host: '127.0.0.1', port: 8080 });
  assert.deepEqual(config.managementAddress, { protocol: 'http', host: '127.0.0.1', port: 8081 });
  assert.deepEqual(config.metricsAddress, { protocol: 'http', host: '127.0.0.1', port: 8082 });
  assert.equal(config.maxRequestSize, 6553500);
  assert.equal(config.defaultWorkersPerModel, 1);
  assert.equal(config.metricsMode, 'prometheus');
  assert.deepEqual(config.allowedUrls, []);
  assert.deepEqual(config.loadModels, []);
  assert.equal(config.enableModelApi, undefined);
  assert.equal(config.disableTokenAuthorization, undefined);
  assert.equal(config.snapshotDir, join('logs', 'config'));
  assert.ok(Object.isFrozen(config) && Object.isFrozen(config.inferenceAddress) && Object.isFrozen(config.allowedUrls));
  assert.ok(Object.isFrozen(DEFAULT_SERVER_CONFIG) && Object.isFrozen(DEFAULT_SERVER_CONFIG.metricsAddress));
});

test('file values are read, trimmed; unknown keys ignored; empty means unset', () => {
  const config = fromText(
    [
      'model_store=/srv/models  ',
      'load_models=a.mar, named=b.mar,,https://host/c.mar',
      'default_workers_per_model=3',
      'job_queue_size=+7',
      'max_request_size=1000',
      'max_response_size=2000',
      'default_response_timeout=30',
      'default_startup_timeout=40',
      'unregister_model_timeout=0',
      'token_expiration_min=0.5',
      'decode_input_request=FALSE',
      'cors_allowed_origin=*',
      'cors_allowed_methods=GET, POST',
      'metrics_mode= Log ',
      'enable_metrics_api=false',
      'number_of_netty_threads=32',
      'some_future_key=whatever',
      'cors_allowed_headers=',
      'keystore_type=pkcs12',
    ].join('\n'),
  );
  assert.equal(config.modelStore, '/srv/models');
  assert.deepEqual(config.loadModels, [{ url: 'a.mar' }, { name: 'named', url: 'b.mar' }, { url: 'https://host/c.mar' }]);
  assert.equal(config.defaultWorkersPerModel, 3);
  assert.equal(config.jobQueueSize, 7);
  assert.equal(config.maxRequestSize, 1000);
  assert.equal(config.maxResponseSize, 2000);
  assert.equal(config.defaultResponseTimeout, 30);
  assert.equal(config.defaultStartupTimeout, 40);
  assert.equal(config.unregisterModelTimeout, 0);
  assert.equal(config.tokenExpirationMin, 0.5);
  assert.equal(config.decodeInputRequest, false);
  assert.equal(config.corsAllowedOrigin, '*');
  assert.equal(config.corsAllowedMethods, 'GET, POST');
  assert.equal(config.corsAllowedHeaders, undefined);
  assert.equal(config.metricsMode, 'log');
  assert.equal(config.enableMetricsApi, false);
  assert.equal(fromText('load_models=ALL').loadModels, 'all');
  assert.deepEqual(fromText('load_models=').loadModels, []);
});

test('worker_isolation and worker_max_memory_mib: auto and 4096 MiB unless set', () => {
  assert.deepEqual([fromText('').workerIsolation, fromText('').workerMaxMemoryMiB], ['auto', 4096]);
  const config = fromText('worker_isolation=process\nworker_max_memory_mib=512');
  assert.deepEqual([config.workerIsolation, config.workerMaxMemoryMiB], ['process', 512]);
});

test('spare_handler_thread: on unless set to false', () => {
  assert.deepEqual([fromText('').spareHandlerThread, fromText('spare_handler_thread=false').spareHandlerThread], [true, false]);
});

test('loadsModelsAtStart: a snapshot, load_models=all or named models; not an empty list', () => {
  const snapshot = 'model_snapshot={"name":"s","modelCount":1,"models":{"m":{"1.0":{"defaultVersion":true,"marName":"m.mar","minWorkers":1,"maxWorkers":1,"batchSize":1,"maxBatchDelay":100}}}}';
  assert.deepEqual(
    ['', 'load_models=', 'load_models=all', 'load_models=m.mar', snapshot].map((text) => loadsModelsAtStart(fromText(text))),
    [false, false, true, true, true],
  );
  assert.equal(loadsModelsAtStart(fromText('', { flags: { models: ['mnv2=mnv2.mar'] } })), true);
});

test('grpc_inference_port turns the OIP gRPC service on (off by default, unlike TorchServe)', () => {
  assert.equal(fromText('').grpcInferencePort, undefined);
  assert.equal(fromText('grpc_inference_port=7070').grpcInferencePort, 7070);
  assert.equal(fromText('grpc_inference_port=0').grpcInferencePort, 0);
});

test('default_workers_per_model=0 means one worker per CPU, as TorchServe without GPUs', () => {
  assert.ok(fromText('default_workers_per_model=0').defaultWorkersPerModel >= 1);
  assert.ok(fromText('default_workers_per_model=0').defaultWorkersPerModel <= 64);
  assert.equal(fromText('default_workers_per_model=64').defaultWorkersPerModel, 64);
});

test('flags override the file', () => {
  const config = fromText('model_store=/file\nload_models=file.mar\nenable_model_api=false\ndisable_token_authorization=false', {
    flags: { modelStore: '/flag', models: ['x=a.mar', 'b.mar'], enableModelApi: true, disableTokenAuth: true, ncs: true, foreground: true },
  });
  assert.equal(config.modelStore, '/flag');
  assert.deepEqual(config.loadModels, [{ name: 'x', url: 'a.mar' }, { url: 'b.mar' }]);
  assert.equal(config.enableModelApi, true);
  assert.equal(config.disableTokenAuthorization, true);
  assert.equal(config.configSnapshots, false);
});

test('flags left undefined do not touch the file values', () => {
  const config = fromText('enable_model_api=true\ndisable_token_authorization=true', { flags: {} });
  assert.equal(config.enableModelApi, true);
  assert.equal(config.disableTokenAuthorization, true);
  assert.equal(config.configSnapshots, true);
});

test('TS_* variables override flags and file, only with enable_envvars_config=true', () => {
  const env = { TS_MODEL_STORE: '/env', TS_MAX_REQUEST_SIZE: '42', TS_INFERENCE_ADDRESS: 'http://127.0.0.1:9090' };
  const flags = { modelStore: '/flag' };
  const off = fromText('model_store=/file\nmax_request_size=10', { env, flags });
  assert.equal(off.modelStore, '/flag');
  assert.equal(off.maxRequestSize, 10);
  const on = fromText('enable_envvars_config=true\nmodel_store=/file\nmax_request_size=10', { env, flags });
  assert.equal(on.modelStore, '/env');
  assert.equal(on.maxRequestSize, 42);
  assert.deepEqual(on.inferenceAddress, { protocol: 'http', host: '127.0.0.1', port: 9090 });
});

test('TorchServe\'s TS_TOKEN_EXPIRATION_TIME_MIN is read as well as TS_TOKEN_EXPIRATION_MIN', () => {
  const on = 'enable_envvars_config=true';
  assert.equal(fromText(on, { env: { TS_TOKEN_EXPIRATION_MIN: '5' } }).tokenExpirationMin, 5);
  assert.equal(fromText(on, { env: { TS_TOKEN_EXPIRATION_TIME_MIN: '7' } }).tokenExpirationMin, 7);
});

test('TS_ALLOWED_URLS needs use_env_allowed_urls=true too; models and snapshot never come from env', () => {
  const env = { TS_ALLOWED_URLS: 'https://evil/.*', TS_MODELS: '{"m":{"1.0":{"batchSize":4}}}', TS_MODEL_SNAPSHOT: '{}' };
  const base = 'enable_envvars_config=true\nallowed_urls=https://good/.*\n';
  const first = (text: string) => fromText(text, { env }).allowedUrls[0]!;
  assert.ok(first(base).test('https://good/a.mar') && !first(base).test('https://evil/a.mar'));
  assert.deepEqual(fromText(base, { env }).models, {});
  assert.equal(fromText(base, { env }).modelSnapshot, undefined);
  assert.ok(first(`${base}use_env_allowed_urls=true\n`).test('https://evil/a.mar'));
});

test('$$NAME$$ in a file value is replaced from the environment', () => {
  assert.equal(fromText('model_store=$$STORE_DIR$$/models', { env: { STORE_DIR: '/data' } }).modelStore, '/data/models');
  assertInvalid(() => fromText('model_store=$$MISSING$$', { env: {} }), /^model_store=/, /environment variable MISSING is not set/);
});

test('LOG_LOCATION sets the log and snapshot directories', () => {
  const config = resolveServerConfig({ env: { LOG_LOCATION: '/var/log/kiln' } });
  assert.equal(config.logLocation, '/var/log/kiln');
  assert.equal(config.snapshotDir, join('/var/log/kiln', 'config'));
});

test('address parsing', () => {
  const cases: Array<[string, unknown]> = [
    ['http://0.0.0.0:8080', { protocol: 'http', host: '0.0.0.0', port: 8080 }],
    ['https://127.0.0.1:8443', { protocol: 'https', host: '127.0.0.1', port: 8443 }],
    ['HTTP://LocalHost:1/', { protocol: 'http', host: 'LocalHost', port: 1 }],
    ['http://[::1]:8080', { protocol: 'http', host: '::1', port: 8080 }],
    ['http://my_host.internal:0', { protocol: 'http', host: 'my_host.internal', port: 0 }],
    ['unix:/tmp/x.sock', { protocol: 'unix', path: '/tmp/x.sock' }],
  ];
  for (const [text, expected] of cases) assert.deepEqual(fromText(`inference_address=${text}`).inferenceAddress, expected, text);
});

test('an address without a port gets TorchServe\'s port for that listener', () => {
  const portOf = (address: ListenAddress) => (address.protocol === 'unix' ? undefined : address.port);
  const config = fromText('inference_address=http://h\nmanagement_address=https://127.0.0.1\nmetrics_address=https://127.0.0.1');
  assert.equal(portOf(config.inferenceAddress), 80);
  assert.equal(portOf(config.managementAddress), 8444);
  assert.equal(portOf(config.metricsAddress), 8445);
  assert.equal(portOf(fromText('inference_address=https://h').inferenceAddress), 443);
  assert.equal(portOf(fromText('management_address=http://127.0.0.1').managementAddress), 8081);
});

for (const [name, text, ...patterns] of [
  ['a non-numeric size', 'max_request_size=6MB', /^max_request_size="6MB": must be a whole number \(from config file\)$/],
  ['a fractional size', 'max_response_size=1.5', /max_response_size="1.5": must be a whole number/],
  ['a negative count', 'default_workers_per_model=-1', /default_workers_per_model="-1": must not be negative/],
  ['a zero queue', 'job_queue_size=0', /job_queue_size="0": must be at least 1/],
  ['a negative timeout', 'default_response_timeout=-5', /default_response_timeout="-5": must be at least 1/],
  ['a negative unregister timeout', 'unregister_model_timeout=-1', /unregister_model_timeout="-1": must not be negative/],
  ['a zero token expiry', 'token_expiration_min=0', /token_expiration_min="0": must be greater than 0/],
  ['a word as token expiry', 'token_expiration_min=soon', /token_expiration_min="soon": must be a number/],
  ['a huge size', 'max_request_size=99999999999999999999', /is too large/],
  ['a bad boolean', 'decode_input_request=yes', /decode_input_request="yes": must be true or false/],
  ['a bad address scheme', 'inference_address=ftp://127.0.0.1:21', /inference_address="ftp:\/\/127.0.0.1:21": must be http/],
  ['an address with a path', 'management_address=http://127.0.0.1:8081/api', /management_address=/],
  ['a relative unix socket', 'metrics_address=unix:x.sock', /metrics_address="unix:x.sock"/],
  ['a port out of range', 'inference_address=http://127.0.0.1:70000', /port must be 0-65535/],
  ['a gRPC port out of range', 'grpc_inference_port=70000', /grpc_inference_port="70000": must be a port number/],
  ['a gRPC port that is a word', 'grpc_inference_port=on', /grpc_inference_port="on": must be a whole number/],
  ['a bad allowed_urls regex', 'allowed_urls=https://ok/.*,https://(bad', /allowed_urls=.*bad pattern "https:\/\/\(bad"/],
  ['a bad metrics mode', 'metrics_mode=statsd', /metrics_mode="statsd": must be prometheus, log or legacy/],
  ['a JKS keystore', 'keystore_type=JKS', /keystore_type="JKS": must be PKCS12/],
  ['an empty model name', 'load_models==a.mar', /load_models="=a.mar": empty model name/],
  ['models= that is not JSON', 'models={m:', /models="\{m:": is not valid JSON/],
  ['models= with a string batch size', 'models={"m":{"1.0":{"batchSize":"8"}}}', /models=.*: m\.1\.0\.batchSize: /],
  ['models= with negative workers', 'models={"m":{"1.0":{"minWorkers":-1}}}', /m\.1\.0\.minWorkers: must not be negative/],
  ['models= with min > max', 'models={"m":{"1.0":{"minWorkers":4,"maxWorkers":1}}}', /m\.1\.0\.minWorkers: minWorkers is greater than maxWorkers/],
  ['a snapshot without marName', 'model_snapshot={"name":"s","modelCount":1,"models":{"m":{"1.0":{"defaultVersion":true,"minWorkers":1,"maxWorkers":1,"batchSize":1,"maxBatchDelay":100}}}}', /model_snapshot=.*m\.1\.0\.marName/],
  ['a bad enable_envvars_config', 'enable_envvars_config=1', /enable_envvars_config="1": must be true or false/],
  // The shared bounds of core/serving-limits, from every config source.
  ['300 default workers', 'default_workers_per_model=300', /^default_workers_per_model="300": must be at most 64 \(.*\), got 300 \(from config file\)$/],
  ['a queue of 1e15', 'job_queue_size=1000000000000000', /job_queue_size="1000000000000000": must be at most 10000 /],
  ['a response timeout past what timers honour', 'default_response_timeout=2147484', /default_response_timeout="2147484": must be at most 2147483 s/],
  ['a startup timeout past what timers honour', 'default_startup_timeout=99999999', /default_startup_timeout="99999999": must be at most 2147483 s/],
  ['an unregister timeout past what timers honour', 'unregister_model_timeout=99999999', /unregister_model_timeout="99999999": must be at most 2147483 s/],
  ['models= with 300 workers', 'models={"m":{"1.0":{"minWorkers":300,"maxWorkers":300}}}', /models=.*: m\.1\.0\.minWorkers: must be at most 64 .*got 300/],
  ['models= with a batch of 1e8', 'models={"m":{"1.0":{"batchSize":100000000}}}', /m\.1\.0\.batchSize: must be at most 4096 .*got 100000000/],
  ['models= with a 3e9 ms delay', 'models={"m":{"1.0":{"maxBatchDelay":3000000000}}}', /m\.1\.0\.maxBatchDelay: must be at most 10000 ms/],
  ['models= with a path as name', 'models={"../x":{"1.0":{"batchSize":1}}}', /models=.*: \.\.\/x: model name '\.\.\/x' is not allowed/],
  ['models= with a path as version', 'models={"m":{"../../tmp/x":{"batchSize":1}}}', /models=.*: m: model version '\.\.\/\.\.\/tmp\/x' is not allowed/],
  ['a snapshot with 300 workers', 'model_snapshot={"name":"s","modelCount":1,"models":{"m":{"1.0":{"defaultVersion":true,"marName":"m.mar","minWorkers":300,"maxWorkers":300,"batchSize":1,"maxBatchDelay":100}}}}', /model_snapshot=.*m\.1\.0\.minWorkers: must be at most 64/],
  ['a snapshot with a name a/b', 'model_snapshot={"name":"s","modelCount":1,"models":{"a/b":{"1.0":{"defaultVersion":true,"marName":"m.mar","minWorkers":1,"maxWorkers":1,"batchSize":1,"maxBatchDelay":100}}}}', /model_snapshot=.*a\/b: model name 'a\/b' is not allowed/],
  ['a snapshot with a 100,000-character version', `model_snapshot={"name":"s","modelCount":1,"models":{"m":{"${'1'.repeat(100_000)}":{"defaultVersion":true,"marName":"m.mar","minWorkers":1,"maxWorkers":1,"batchSize":1,"maxBatchDelay":100}}}}`, /m: model version is 100000 characters long; the limit is 64/],
  ['a load_models name that is a path', 'load_models=../x=a.mar', /load_models="\.\.\/x=a\.mar": model name '\.\.\/x' is not allowed/],
  ['an unknown isolation', 'worker_isolation=vm', /^worker_isolation="vm": must be auto, process or thread \(from config file\)$/],
  ['a memory ceiling below 64 MiB', 'worker_max_memory_mib=32', /worker_max_memory_mib="32": must be at least 64 \(MiB\)/],
  ['a memory ceiling in words', 'worker_max_memory_mib=4G', /worker_max_memory_mib="4G": must be a whole number/],
] as const) {
  test(`refuses ${name}`, () => assertInvalid(() => fromText(text), ...patterns));
}

test('an invalid value names its source: flag or environment variable', () => {
  assertInvalid(() => resolveServerConfig({ env: {}, flags: { models: ['=x.mar'] } }), /\(from --models\)$/);
  assertInvalid(
    () => fromText('enable_envvars_config=true', { env: { TS_JOB_QUEUE_SIZE: 'lots' } }),
    /^job_queue_size="lots": must be a whole number \(from TS_JOB_QUEUE_SIZE\)$/,
  );
});

test('token auth cannot be disabled with management beyond loopback (spec §1)', () => {
  assertInvalid(
    () => fromText('management_address=http://0.0.0.0:8081\ndisable_token_authorization=true'),
    /disable_token_authorization="true": token authorization cannot be disabled/,
  );
  assertInvalid(() => fromText('management_address=http://0.0.0.0:8081', { flags: { disableTokenAuth: true } }), /from --disable-token-auth/);
  assert.equal(fromText('inference_address=http://0.0.0.0:8080\ndisable_token_authorization=true').disableTokenAuthorization, true);
});

test('allowed_urls: comma-separated patterns, full match, case-insensitive', () => {
  const { allowedUrls } = fromText('allowed_urls=https://models\\.example\\.com/.*\\.mar, file:///srv/.*');
  const allowed = (url: string) => allowedUrls.some((pattern) => pattern.test(url));
  assert.equal(allowedUrls.length, 2);
  assert.ok(allowed('https://models.example.com/resnet.mar'));
  assert.ok(allowed('HTTPS://MODELS.EXAMPLE.COM/RESNET.MAR'));
  assert.ok(allowed('file:///srv/a.mar'));
  assert.ok(!allowed('https://models.example.com/resnet.mar.evil'), 'no prefix match');
  assert.ok(!allowed('https://evil/?https://models.example.com/x.mar'), 'no substring match');
  assert.ok(!allowed('xfile:///srv/a.mar'));
  // An alternation must not escape the anchors.
  const [alternation] = fromText('allowed_urls=a|b').allowedUrls;
  assert.ok(alternation!.test('a') && !alternation!.test('ab') && !alternation!.test('xb'));
});

test('models= JSON per-model settings', () => {
  const json = '{"m": {"1.0": {"defaultVersion": true, "marName": "m.mar", "minWorkers": 1, "maxWorkers": 4, "batchSize": 8, "maxBatchDelay": 100, "responseTimeout": 120, "startupTimeout": 120, "extra": 1}}, "n": {"2": {"batchSize": 2}}}';
  const config = fromText(`models=${json}`);
  assert.deepEqual(config.models, {
    m: { '1.0': { defaultVersion: true, marName: 'm.mar', minWorkers: 1, maxWorkers: 4, batchSize: 8, maxBatchDelay: 100, responseTimeout: 120, startupTimeout: 120 } },
    n: { '2': { batchSize: 2 } },
  });
  assert.ok(Object.isFrozen(config.models['m']!['1.0']));
});

test('a TorchServe snapshot file round-trips into model_snapshot', () => {
  const snapshot = {
    name: '20250102030405006-snapshot.cfg',
    modelCount: 2,
    models: {
      resnet: {
        '1.0': { defaultVersion: true, marName: 'resnet.mar', minWorkers: 1, maxWorkers: 1, batchSize: 4, maxBatchDelay: 50, responseTimeout: 120, startupTimeout: 120, runtimeType: 'python' },
        '2.0': { defaultVersion: false, marName: 'resnet2.mar', minWorkers: 0, maxWorkers: 2, batchSize: 1, maxBatchDelay: 100, responseTimeout: null },
      },
    },
  };
  const text = `#Saving snapshot\n${formatProperties([
    ['inference_address', 'http://127.0.0.1:8080'],
    ['tsConfigFile', 'logs/config/x.cfg'],
    ['model_snapshot', JSON.stringify(snapshot, null, 2)],
  ])}`;
  const config = fromText(text);
  const { responseTimeout: _, ...second } = snapshot.models.resnet['2.0'];
  assert.deepEqual(config.modelSnapshot, { ...snapshot, models: { resnet: { '1.0': snapshot.models.resnet['1.0'], '2.0': second } } });
});

test('isLoopback', () => {
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) {
    assert.ok(isLoopback(host), host);
  }
  for (const host of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com', '::ffff:10.0.0.1', '']) assert.ok(!isLoopback(host), host);
  assert.ok(isLoopback({ protocol: 'unix', path: '/tmp/x.sock' }));
  assert.ok(!isLoopback({ protocol: 'https', host: '0.0.0.0', port: 8443 }));
});

test('model API and token auth: explicit values win, else decided by loopback', () => {
  const local = resolveServerConfig({ env: {} });
  assert.equal(isModelApiEnabled(local), true);
  assert.equal(isTokenAuthRequired(local), false);
  const remoteInference = fromText('inference_address=http://0.0.0.0:8080');
  assert.equal(isModelApiEnabled(remoteInference), true);
  assert.equal(isTokenAuthRequired(remoteInference), true);
  const remoteManagement = fromText('management_address=http://0.0.0.0:8081');
  assert.equal(isModelApiEnabled(remoteManagement), false);
  assert.equal(isTokenAuthRequired(remoteManagement), true);
  assert.equal(isTokenAuthRequired(fromText('disable_token_authorization=false')), true);
  assert.equal(isModelApiEnabled(fromText('enable_model_api=false')), false);
  assert.equal(isModelApiEnabled(fromText('management_address=http://0.0.0.0:8081\nenable_model_api=true')), true);
});

test('findLatestSnapshot picks the newest by the timestamp in the name', () => {
  const dir = join(scratch, 'snapshots');
  mkdirSync(dir);
  for (const name of [
    '20241231235959999-shutdown.cfg',
    '20250101000000000-startup.cfg',
    '20250101000000001-snapshot.cfg',
    '99999999999999999-notes.txt',
    'config.properties',
    '2025-snapshot.cfg',
  ]) {
    writeFileSync(join(dir, name), '');
  }
  mkdirSync(join(dir, '99999999999999999-snapshot.cfg')); // a directory is not a snapshot
  assert.equal(findLatestSnapshot(dir), join(dir, '20250101000000001-snapshot.cfg'));
  writeFileSync(join(dir, '20250101000000002-shutdown.cfg'), '');
  assert.equal(findLatestSnapshot(dir), join(dir, '20250101000000002-shutdown.cfg'));
  assert.equal(findLatestSnapshot(join(scratch, 'missing')), undefined);
});

test('findConfigFile: TS_CONFIG_FILE > --ts-config > newest snapshot > ./config.properties', () => {
  const cwd = join(scratch, 'cwd');
  const snapshotDir = join(cwd, 'logs', 'config');
  mkdirSync(snapshotDir, { recursive: true });
  const base = { env: {}, ncs: false, snapshotDir, cwd };
  assert.equal(findConfigFile(base), undefined);
  writeFileSync(join(cwd, 'config.properties'), '');
  assert.equal(findConfigFile(base), join(cwd, 'config.properties'));
  writeFileSync(join(snapshotDir, '20250101000000000-startup.cfg'), '');
  assert.equal(findConfigFile(base), join(snapshotDir, '20250101000000000-startup.cfg'));
  assert.equal(findConfigFile({ ...base, ncs: true }), join(cwd, 'config.properties'));
  assert.equal(findConfigFile({ ...base, tsConfig: 'flag.properties' }), 'flag.properties');
  assert.equal(findConfigFile({ ...base, tsConfig: 'flag.properties', env: { TS_CONFIG_FILE: 'env.properties' } }), 'env.properties');
});

test('metrics_text_format (kiln only) defaults to torchserve; disable_system_metrics to false', () => {
  assert.equal(DEFAULT_SERVER_CONFIG.metricsTextFormat, 'torchserve');
  assert.equal(DEFAULT_SERVER_CONFIG.disableSystemMetrics, false);
  const config = fromText('metrics_text_format= Standard \ndisable_system_metrics=TRUE');
  assert.equal(config.metricsTextFormat, 'standard');
  assert.equal(config.disableSystemMetrics, true);
  assert.throws(() => fromText('metrics_text_format=openmetrics'), /metrics_text_format="openmetrics": must be torchserve or standard/);
});

test('locateConfigFile says why it chose the file, for the line kiln serve prints', () => {
  const cwd = join(scratch, 'cwd-sources');
  const snapshotDir = join(cwd, 'logs', 'config');
  mkdirSync(snapshotDir, { recursive: true });
  const base = { env: {}, ncs: false, snapshotDir, cwd };
  writeFileSync(join(cwd, 'config.properties'), '');
  assert.deepEqual(locateConfigFile(base), { path: join(cwd, 'config.properties'), source: 'config.properties' });
  writeFileSync(join(snapshotDir, '20250101000000000-shutdown.cfg'), '');
  assert.deepEqual(locateConfigFile(base), { path: join(snapshotDir, '20250101000000000-shutdown.cfg'), source: 'snapshot' });
  assert.deepEqual(locateConfigFile({ ...base, tsConfig: 'flag.properties' }), { path: 'flag.properties', source: '--ts-config' });
  assert.deepEqual(locateConfigFile({ ...base, env: { TS_CONFIG_FILE: 'env.properties' } }), { path: 'env.properties', source: 'TS_CONFIG_FILE' });
});

test('service_envelope: kserve or kservev2, from the file or (with enable_envvars_config) TS_SERVICE_ENVELOPE as KServe sets it', () => {
  assert.equal(fromText('').serviceEnvelope, undefined);
  assert.equal(fromText('service_envelope=kserve').serviceEnvelope, 'kserve');
  assert.equal(fromText('service_envelope=KServeV2').serviceEnvelope, 'kservev2');
  const env = { TS_SERVICE_ENVELOPE: 'kserve' };
  assert.equal(fromText('', { env }).serviceEnvelope, undefined);
  assert.equal(fromText('enable_envvars_config=true', { env }).serviceEnvelope, 'kserve');
  // KServe writes {{.Labels.serviceEnvelope}}, empty when the InferenceService has no such label.
  assert.equal(fromText('enable_envvars_config=true', { env: { TS_SERVICE_ENVELOPE: '' } }).serviceEnvelope, undefined);
  assertInvalid(() => fromText('service_envelope=json'), /service_envelope="json": must be kserve or kservev2/);
  assertInvalid(() => fromText('service_envelope=body'), /does not implement TorchServe's body and json envelopes/);
});

test("TorchServe's KServe config.properties resolves unchanged, every key accepted", () => {
  const text = [
    'inference_address=http://0.0.0.0:8085',
    'management_address=http://0.0.0.0:8085',
    'metrics_address=http://0.0.0.0:8082',
    'grpc_inference_port=7070',
    'grpc_management_port=7071',
    'enable_envvars_config=true',
    'install_py_dep_per_model=true',
    'enable_metrics_api=true',
    'metrics_mode=prometheus',
    'NUM_WORKERS=1',
    'number_of_netty_threads=4',
    'job_queue_size=10',
    'load_models=all',
    'model_store=/mnt/models/model-store',
    'model_snapshot={"name":"startup.cfg","modelCount":1,"models":{"mnist":{"1.0":{"defaultVersion":true,"marName":"mnist.mar","minWorkers":1,"maxWorkers":5,"batchSize":5,"maxBatchDelay":200,"responseTimeout":60}}}}',
  ].join('\n');
  const config = fromText(text);
  assert.deepEqual(config.inferenceAddress, { protocol: 'http', host: '0.0.0.0', port: 8085 });
  assert.deepEqual(config.managementAddress, config.inferenceAddress);
  assert.equal(config.jobQueueSize, 10);
  assert.equal(config.modelSnapshot?.models['mnist']?.['1.0']?.marName, 'mnist.mar');
  assert.equal(config.loadModels, 'all');
  const ignored = ignoredProperties(parseProperties(text));
  assert.deepEqual(ignored.map((entry) => entry.key), ['grpc_management_port', 'install_py_dep_per_model', 'NUM_WORKERS', 'number_of_netty_threads']);
  assert.match(ignored[1]!.reason, /runs no Python/);
  assert.match(ignored[2]!.reason, /not a key TorchServe or kiln reads/);
});

test('grpc_inference_address: 127.0.0.1 by default; beyond loopback only with token authorization off', () => {
  assert.equal(fromText('grpc_inference_port=7070').grpcInferenceAddress, '127.0.0.1');
  assert.equal(fromText('grpc_inference_address=[::1]\ngrpc_inference_port=7070').grpcInferenceAddress, '::1');
  const open = 'grpc_inference_address=0.0.0.0\ngrpc_inference_port=7070\ninference_address=http://0.0.0.0:8085';
  assertInvalid(() => fromText(open), /grpc_inference_address="0\.0\.0\.0": the gRPC listener can leave loopback only with token authorization off/);
  assert.equal(fromText(open, { flags: { disableTokenAuth: true } }).grpcInferenceAddress, '0.0.0.0');
  assertInvalid(() => fromText('grpc_inference_address=a b'), /must be a host name or IP address/);
});
