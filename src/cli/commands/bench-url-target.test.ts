import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveBenchTarget } from './bench-url-target.js';

test('a server address with --model: TorchServe by default, OIP on request', () => {
  assert.deepEqual(resolveBenchTarget({ url: 'http://127.0.0.1:8080', model: 'resnet' }), {
    protocol: 'torchserve',
    origin: 'http://127.0.0.1:8080',
    inferPath: '/predictions/resnet',
    metadataPath: '/v2/models/resnet',
    model: 'resnet',
    version: undefined,
  });
  const oip = resolveBenchTarget({ url: 'http://h:8080/', protocol: 'oip', model: 'resnet', version: '2.0' });
  assert.equal(oip.inferPath, '/v2/models/resnet/versions/2.0/infer');
  assert.equal(oip.metadataPath, '/v2/models/resnet/versions/2.0');
});

test('a full route sets the protocol, model and version; a path prefix (a proxy mount) is kept', () => {
  const torchserve = resolveBenchTarget({ url: 'https://h/ml/predictions/resnet/1.0' });
  assert.deepEqual([torchserve.protocol, torchserve.origin, torchserve.inferPath, torchserve.model, torchserve.version], ['torchserve', 'https://h', '/ml/predictions/resnet/1.0', 'resnet', '1.0']);
  for (const url of ['http://h/v2/models/m', 'http://h/v2/models/m/infer', 'http://h/v2/models/m/']) {
    const target = resolveBenchTarget({ url });
    assert.deepEqual([target.protocol, target.inferPath, target.version], ['oip', '/v2/models/m/infer', undefined], url);
  }
  assert.equal(resolveBenchTarget({ url: 'http://h/v2/models/m/versions/3/infer' }).version, '3');
  assert.equal(resolveBenchTarget({ url: 'http://h/ml', model: 'm' }).inferPath, '/ml/predictions/m');
});

test('flags that agree with the URL are fine; ones that contradict it, or a missing model, are usage errors', () => {
  assert.equal(resolveBenchTarget({ url: 'http://h/predictions/m', model: 'm', protocol: 'torchserve' }).model, 'm');
  const usage = (options: Parameters<typeof resolveBenchTarget>[0], message: RegExp) =>
    assert.throws(() => resolveBenchTarget(options), (error: { code?: string; message: string }) => error.code === 'KILN_CLI_USAGE' && message.test(error.message));
  usage({ url: 'http://h/predictions/m', model: 'other' }, /--model 'other' disagrees with the URL, which names 'm'/);
  usage({ url: 'http://h/v2/models/m', protocol: 'torchserve' }, /--protocol 'torchserve' disagrees/);
  usage({ url: 'http://h/predictions/m/1.0', version: '2.0' }, /--model-version '2.0' disagrees/);
  usage({ url: 'http://h:8080' }, /give --model NAME, or a URL ending in \/predictions\/NAME/);
  usage({ url: 'localhost:8080' }, /http:\/\/ or https:\/\//);
  usage({ url: 'not a url' }, /http:\/\/ or https:\/\//);
  usage({ url: 'http://user:pw@h/predictions/m' }, /credentials/);
});
