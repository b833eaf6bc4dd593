import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeModel, makeNode, makeValueInfo } from '../build.js';
import { DataType } from '../dtype.js';
import { decodeTensor } from '../tensor.js';
import { flattenShape, flattenToReshape } from './flatten-to-reshape.js';
import { assertSameOutputs, opCounts, seededFeeds } from '../../../test/fixtures/pass-harness.js';

const F = DataType.FLOAT;

describe('flatten-to-reshape', () => {
  it('computes a Reshape target that holds for any value of the unknown dims', () => {
    assert.deepEqual(flattenShape(['batch', 3, 4, 5].map((d) => (typeof d === 'number' ? d : undefined)), 1), [0, -1]);
    assert.deepEqual(flattenShape([undefined, 3, 4], 0), [1, -1]);
    assert.deepEqual(flattenShape([2, 3, 4, 5], 2), [6, -1]);
    assert.deepEqual(flattenShape([undefined, 3, 4, 5], -1), [-1, 5]);
    assert.deepEqual(flattenShape([undefined, 3], 2), [-1, 1]);
    assert.deepEqual(flattenShape([undefined, undefined, 4], 2), [-1, 4]);
    assert.equal(flattenShape([undefined, undefined, undefined], 2), undefined);
    assert.equal(flattenShape([2, 3], 3), undefined);
  });

  it('replaces each Flatten whose input rank is known, keeping names, and runs the same', async () => {
    const source = makeModel({
      name: 'flatten',
      nodes: [
        makeNode('Flatten', ['x'], ['f1'], { name: 'axis1' }),
        makeNode('Flatten', ['x'], ['f0'], { name: 'axis0', attributes: { axis: 0 } }),
        makeNode('Flatten', ['x'], ['f3'], { name: 'axis_last', attributes: { axis: -1 } }),
        makeNode('Relu', ['u'], ['r']),
        makeNode('Flatten', ['r'], ['fu'], { name: 'unknown_rank', attributes: { axis: 2 } }),
      ],
      inputs: [makeValueInfo('x', F, ['batch', 3, 4, 5]), makeValueInfo('u', F, undefined)],
      outputs: ['f1', 'f0', 'f3', 'fu'].map((name) => makeValueInfo(name, F, undefined)),
      opset: 13,
    });
    const result = flattenToReshape(source);
    assert.equal(result.changes, 3);
    assert.deepEqual(Object.fromEntries(opCounts(result.model)), { Reshape: 3, Relu: 1, Flatten: 1 });
    assert.match(result.notes!.join('\n'), /'unknown_rank'.*unknown/);
    const shapes = result.model.graph!.node
      .filter((node) => node.opType === 'Reshape')
      .map((node) => [node.name, Array.from(decodeTensor(result.model.graph!.initializer.find((t) => t.name === node.input[1])!).data as BigInt64Array, Number)]);
    assert.deepEqual(Object.fromEntries(shapes), { axis1: [0, -1], axis0: [1, -1], axis_last: [-1, 5] });
    const feeds = {
      x: (await seededFeeds(source, { dims: { batch: 2 }, shapes: { u: [] } })).x!,
      u: { type: 'float32' as const, dims: [2, 3, 2], data: Float32Array.from({ length: 12 }, (_, index) => index - 6) },
    };
    await assertSameOutputs(source, result.model, feeds);
  });
});
