import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseModelConfig } from './model-config.js';

test('server keys are validated and the rest goes to the handler', () => {
  const config = parseModelConfig('minWorkers: 1\nmaxWorkers: 4\nbatchSize: 8\nmaxBatchDelay: 50\nhandler:\n  topk: 2\nthreshold: 0.5\n');
  assert.deepEqual(config.server, { minWorkers: 1, maxWorkers: 4, batchSize: 8, maxBatchDelay: 50 });
  assert.deepEqual(config.handler, { handler: { topk: 2 }, threshold: 0.5 });
  assert.ok(Object.isFrozen(config.server));
});

test('values at the bounds are accepted', () => {
  const config = parseModelConfig('minWorkers: 64\nmaxWorkers: 64\nbatchSize: 4096\nmaxBatchDelay: 10000\njobQueueSize: 10000\nresponseTimeout: 2147483\n');
  assert.equal(config.server.minWorkers, 64);
  assert.equal(config.server.jobQueueSize, 10000);
});

test('an empty file is an empty config', () => {
  assert.deepEqual(parseModelConfig(''), { server: {}, handler: {} });
});

for (const [name, text, pattern] of [
  ['min > max workers', 'minWorkers: 3\nmaxWorkers: 1\n', /minWorkers \(3\) is greater than maxWorkers \(1\)/],
  ['a string batch size', 'batchSize: eight\n', /batchSize: /],
  ['a zero batch size', 'batchSize: 0\n', /batchSize: /],
  ['a negative worker count', 'minWorkers: -1\n', /minWorkers: /],
  ['a js/function tag (code execution attempt)', 'x: !!js/function "function () { return 1 }"\n', /not plain YAML data/],
  ['a custom tag', 'x: !python/object:os.system ls\n', /not plain YAML data/],
  ['duplicate keys', 'a: 1\na: 2\n', /not plain YAML data/],
  ['a list at the top', '- 1\n- 2\n', /top level must be a mapping/],
  ['a syntax error', 'a: [1, 2\n', /not plain YAML data/],
  // The shared bounds (core/serving-limits): each once started hundreds of threads or hung requests.
  ['300 workers', 'minWorkers: 300\n', /minWorkers: must be at most 64 .*got 300$/],
  ['300 max workers', 'maxWorkers: 300\n', /maxWorkers: must be at most 64 /],
  ['a batch of 1e8', 'batchSize: 1e8\n', /batchSize: must be at most 4096 .*got 100000000$/],
  ['a queue of 1e15', 'jobQueueSize: 1e15\n', /jobQueueSize: must be at most 10000 .*got 1000000000000000$/],
  ['a 3e9 ms batch delay', 'maxBatchDelay: 3e9\n', /maxBatchDelay: must be at most 10000 ms .*responseTimeout.*got 3000000000$/],
  ['a response timeout past what timers honour', 'responseTimeout: 2147484\n', /responseTimeout: must be at most 2147483 s/],
  ['a fractional startup timeout', 'startupTimeout: 1.5\n', /startupTimeout: must be a whole number/],
] as const) {
  test(`parseModelConfig refuses ${name}`, () => {
    assert.throws(() => parseModelConfig(text, 'cfg.yaml'), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'KILN_ARCHIVE_MODEL_CONFIG_INVALID');
      assert.match(error.message, /^cfg\.yaml: /);
      assert.match(error.message, pattern);
      return true;
    });
  });
}

test('alias bombs are cut off', () => {
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 12; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
  assert.throws(() => parseModelConfig(lines.join('\n')), { code: 'KILN_ARCHIVE_MODEL_CONFIG_INVALID' });
});
