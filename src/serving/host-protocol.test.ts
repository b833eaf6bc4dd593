import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KilnError } from '../core/errors.js';
import { deserializeError, fromWire, serializeError, toWire } from './host-protocol.js';

/** What crossing a MessagePort or an IPC channel with advanced serialization does to a value. */
const cross = <T>(value: T): T => structuredClone(value);

test('a KilnError crosses with its code, message, details and chain of causes (stacks kept)', () => {
  const root = new RangeError('offset 12 is out of range');
  const middle = new Error('could not read the tensor', { cause: root });
  const error = new KilnError('KILN_RUNTIME_RUN_FAILED', 'm: inference failed', { cause: middle, details: { model: 'm', fn: () => 1 } });
  const back = deserializeError(cross(serializeError(error)));
  assert.equal(back.code, 'KILN_RUNTIME_RUN_FAILED');
  assert.equal(back.message, 'm: inference failed');
  assert.deepEqual(back.details, { model: 'm' });
  const cause = back.cause as Error;
  assert.equal(cause.message, 'could not read the tensor');
  assert.equal(cause.stack, middle.stack);
  const inner = cause.cause as Error;
  assert.equal(inner.name, 'RangeError');
  assert.equal(inner.message, 'offset 12 is out of range');
  assert.match(inner.stack!, /^RangeError: offset 12 is out of range\n\s+at /);
});

test('a foreign error becomes "Prediction failed" with itself as the cause', () => {
  const back = deserializeError(cross(serializeError(new TypeError('x is not a function'))));
  assert.equal(back.code, 'KILN_HANDLER_FAILED');
  assert.equal(back.message, 'Prediction failed');
  assert.equal(back.details['reason'], 'x is not a function');
  assert.equal((back.cause as Error).name, 'TypeError');
});

test('a cyclic chain of causes is cut, not followed forever', () => {
  const a = new Error('a');
  const b = new Error('b', { cause: a });
  (a as { cause?: unknown }).cause = b;
  let depth = 0;
  for (let cause: unknown = deserializeError(cross(serializeError(new KilnError('KILN_HANDLER_FAILED', 'x', { cause: a })))).cause; cause instanceof Error; cause = cause.cause) depth++;
  assert.equal(depth, 5);
});

test('per-request outcomes cross as responses and errors in their places', () => {
  const response = { body: new Uint8Array([1, 2]), json: false, settings: { headers: {} } };
  const outcomes = fromWire(cross(toWire([response, new KilnError('KILN_HANDLER_INPUT_INVALID', 'request 1: not an image', { details: { requestIndex: 1 } })])));
  assert.deepEqual(outcomes[0], response);
  assert.ok(outcomes[1] instanceof KilnError);
  assert.equal((outcomes[1] as KilnError).details['requestIndex'], 1);
});
