import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batchesInFlightCounter, soloRunsOver } from './batches-in-flight.js';
import { servedEngineDefaults } from './host-tuning.js';

test('solo runs are offered where the sizing rule leaves cores idle and the count of batches is shared', () => {
  const counter = batchesInFlightCounter();
  assert.equal(servedEngineDefaults(2, counter, 4).solo?.intraOpThreads, 4);
  assert.equal(servedEngineDefaults(2, counter, 4).intraOpThreads, 2);
  assert.equal(servedEngineDefaults(1, counter, 4).solo, undefined, 'one worker has every core already');
  assert.equal(servedEngineDefaults(2, undefined, 4).solo, undefined, 'a worker process cannot see the count');
  process.env['KILN_SOLO_RUNS'] = '0';
  try {
    assert.equal(servedEngineDefaults(2, counter, 4).solo, undefined);
  } finally {
    delete process.env['KILN_SOLO_RUNS'];
  }
});

test('a run is alone while the count holds at most its own batch', () => {
  const counter = new Int32Array(new SharedArrayBuffer(4));
  const { alone } = soloRunsOver(counter, 2);
  Atomics.store(counter, 0, 1);
  assert.equal(alone(), true);
  Atomics.store(counter, 0, 2);
  assert.equal(alone(), false);
  Atomics.store(counter, 0, 0);
  assert.equal(alone(), true);
});
