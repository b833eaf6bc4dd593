import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HostTensor } from '../runtime/tensors.js';
import type { TensorFeeds } from './tensor-request.js';
import { groupStackable, hasBatchAxis, splitRows, stackFeeds, type StackScratch } from './tensor-stack.js';

const f32 = (dims: number[], values: number[]): HostTensor => ({ type: 'float32', dims, data: Float32Array.from(values) });

test('groupStackable groups requests that agree past axis 0; a request whose inputs disagree on rows runs alone', () => {
  const requests: TensorFeeds[] = [
    { x: f32([1, 2], [1, 2]) },
    { x: f32([1, 3], [1, 2, 3]) },
    { x: f32([2, 2], [3, 4, 5, 6]) },
    { x: { type: 'int32' as const, dims: [1, 2], data: Int32Array.of(1, 2) } },
    { x: f32([1, 2], [0, 0]), y: f32([2, 2], [0, 0, 0, 0]) },
  ];
  assert.deepEqual(groupStackable(requests), [[0, 2], [1], [3], [4]]);
});

test('hasBatchAxis wants a dynamic first axis on every input and output', () => {
  const dynamic = { name: 'x', type: 'float32' as const, shape: ['N', 3] };
  assert.equal(hasBatchAxis([dynamic], [{ ...dynamic, name: 'y' }]), true);
  assert.equal(hasBatchAxis([dynamic], [{ ...dynamic, name: 'y', shape: [1, 3] }]), false);
  assert.equal(hasBatchAxis([{ ...dynamic, shape: [] }], [dynamic]), false);
});

test('stackFeeds concatenates along axis 0, reusing its scratch memory from one batch to the next', () => {
  const scratch: StackScratch = new Map();
  const first = stackFeeds([{ x: f32([1, 2], [1, 2]) }, { x: f32([2, 2], [3, 4, 5, 6]) }], scratch);
  assert.deepEqual(first['x'], { type: 'float32', dims: [3, 2], data: Float32Array.of(1, 2, 3, 4, 5, 6) });
  const buffer = (first['x']!.data as Float32Array).buffer;
  const second = stackFeeds([{ x: f32([1, 2], [7, 8]) }, { x: f32([1, 2], [9, 10]) }], scratch);
  assert.deepEqual(second['x']!.data, Float32Array.of(7, 8, 9, 10));
  assert.equal((second['x']!.data as Float32Array).buffer, buffer, 'the same memory, not a new allocation');
  const bigger = stackFeeds([{ x: f32([3, 2], [1, 2, 3, 4, 5, 6]) }, { x: f32([1, 2], [7, 8]) }], scratch);
  assert.deepEqual(bigger['x']!.data, Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8));
  const alone = { x: f32([1, 2], [1, 2]) };
  assert.equal(stackFeeds([alone], scratch), alone, 'one request is run as it is');
});

test('splitRows gives each request its rows, or undefined when an output lost the stacked rows', () => {
  const outputs = { y: f32([3, 2], [1, 2, 3, 4, 5, 6]), z: f32([3], [7, 8, 9]) };
  assert.deepEqual(splitRows(outputs, [1, 2]), [
    { y: f32([1, 2], [1, 2]), z: f32([1], [7]) },
    { y: f32([2, 2], [3, 4, 5, 6]), z: f32([2], [8, 9]) },
  ]);
  assert.equal(splitRows({ y: f32([1, 2], [1, 2]) }, [1, 2]), undefined);
});
