/**
 * Names and setting bounds over real HTTP: every vector below used to register (issue #11), and
 * `a/b` could then be neither reached nor deleted. Each must now be refused with a 400 that says
 * which value broke which rule, and leave nothing registered.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeArchive } from '../../../src/archive/write.js';
import { BUNDLED_HANDLER_FILE } from '../../../src/handlers/bundle.js';
import { writeNoopArchive } from '../../fixtures/archives.js';
import { call, startServer, type ServerUnderTest } from './harness.js';

/**
 * A folder archive whose MANIFEST.json is then edited to carry `version`, which the writer
 * refuses. Registration must stop at the manifest, so the handler is a stub.
 */
async function writeVersionedFolder(store: string, name: string, version: string): Promise<void> {
  const folder = await writeArchive({
    modelName: name,
    modelVersion: '1.0',
    handler: BUNDLED_HANDLER_FILE,
    entries: [{ name: BUNDLED_HANDLER_FILE, source: { bytes: new TextEncoder().encode('export default {}') } }],
    exportPath: store,
    format: 'no-archive',
    force: true,
  });
  const manifestPath = join(folder.path, 'MAR-INF', 'MANIFEST.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  manifest.model.modelVersion = version;
  writeFileSync(manifestPath, JSON.stringify(manifest));
}

describe('names and setting bounds (issue #11)', () => {
  let server: ServerUnderTest;
  const post = (query: string, init: RequestInit = {}) => call(`${server.management}/models?${query}`, { method: 'POST', ...init });

  before(async () => {
    server = await startServer({ properties: ['enable_model_api=true'] });
    await writeNoopArchive(server.store);
    await writeVersionedFolder(server.store, 'dotdot', '../../../tmp/x');
    await writeVersionedFolder(server.store, 'longversion', '1'.repeat(100_000));
    const yaml: Record<string, string> = {
      workers300: 'minWorkers: 300\nmaxWorkers: 300\n',
      batch1e8: 'batchSize: 100000000\n',
      queue1e15: 'jobQueueSize: 1000000000000000\n',
      delay3e9: 'maxBatchDelay: 3000000000\n',
    };
    for (const [name, config] of Object.entries(yaml)) await writeNoopArchive(server.store, { name, config });
  });
  after(async () => {
    await server.stop();
  });

  const refusals: Array<[string, string, RegExp]> = [
    ['model_name=../x', 'url=noop.mar&model_name=../x', /^Parameter model_name: model name '\.\.\/x' is not allowed/],
    ['model_name=a/b', 'url=noop.mar&model_name=a%2Fb', /model name 'a\/b' is not allowed/],
    ['model_name=%2e%2e (decodes to ..)', 'url=noop.mar&model_name=%2e%2e', /model name '\.\.' is not allowed/],
    ['model_name=%2e%2e (literal)', 'url=noop.mar&model_name=%252e%252e', /model name '%2e%2e' is not allowed/],
    ['a 200-character model_name', `url=noop.mar&model_name=${'a'.repeat(200)}`, /model name is 200 characters long; the limit is 128/],
    ['a manifest version ../../../tmp/x', 'url=dotdot', /model\.modelVersion: model version '\.\.\/\.\.\/\.\.\/tmp\/x' is not allowed/],
    ['a 100,000-character manifest version', 'url=longversion', /model\.modelVersion: model version is 100000 characters long; the limit is 64/],
    ['minWorkers: 300 in model-config.yaml', 'url=workers300.mar', /model-config\.yaml.*minWorkers: must be at most 64 .*got 300/],
    ['batchSize: 1e8 in model-config.yaml', 'url=batch1e8.mar', /batchSize: must be at most 4096 .*got 100000000/],
    ['jobQueueSize: 1e15 in model-config.yaml', 'url=queue1e15.mar', /jobQueueSize: must be at most 10000 .*got 1000000000000000/],
    ['maxBatchDelay: 3e9 in model-config.yaml', 'url=delay3e9.mar', /maxBatchDelay: must be at most 10000 ms .*got 3000000000/],
    ['initial_workers=300', 'url=noop.mar&initial_workers=300', /^Parameter initial_workers must be an integer from 0 to 64, got '300'\.$/],
    ['batch_size=1e8', 'url=noop.mar&batch_size=100000000', /^Parameter batch_size must be an integer from 1 to 4096, got '100000000'\.$/],
    ['max_batch_delay=3e9', 'url=noop.mar&max_batch_delay=3000000000', /^Parameter max_batch_delay must be an integer from 0 to 10000 \(ms\), got '3000000000'\.$/],
    ['response_timeout past what timers honour', 'url=noop.mar&response_timeout=2147484', /from 1 to 2147483 \(s\)/],
  ];
  for (const [name, query, message] of refusals) {
    test(`POST /models refuses ${name} with 400`, async () => {
      const response = await post(query);
      assert.equal(response.status, 400, response.text);
      assert.equal(response.body.code, 400);
      assert.match(response.body.message, message);
      assert.ok(response.body.message.length < 600, 'the message is bounded, not an echo of the whole value');
    });
  }

  test('a JSON body is checked the same way', async () => {
    const response = await post('', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: 'noop.mar', model_name: 'a/b' }) });
    assert.equal(response.status, 400);
    assert.match(response.body.message, /model name 'a\/b' is not allowed/);
  });

  test('POST /workflows refuses workflow_name=../w before fetching anything', async () => {
    const response = await call(`${server.management}/workflows?url=none.war&workflow_name=../w`, { method: 'POST' });
    assert.equal(response.status, 400);
    assert.match(response.body.message, /^Parameter workflow_name: workflow name '\.\.\/w' is not allowed/);
  });

  test('PUT /models/{m} refuses min_worker=300 and max_worker=300', async () => {
    assert.equal((await post('url=noop.mar')).status, 200);
    for (const query of ['min_worker=300', 'min_worker=1&max_worker=300']) {
      const response = await call(`${server.management}/models/noop?${query}&synchronous=true`, { method: 'PUT' });
      assert.equal(response.status, 400);
      assert.match(response.body.message, /must be an integer from 0 to 64/);
    }
    assert.equal((await call(`${server.management}/models/noop`, { method: 'DELETE' })).status, 200);
  });

  test('nothing refused was registered', async () => {
    const listed = await call(`${server.management}/models`);
    assert.deepEqual(listed.body, { models: [] });
  });
});
