import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HostTensor } from '../../runtime/tensors.js';
import type { RequestedOutput } from './request.js';
import { encodeInferResponse, type EncodedResponse } from './response.js';
import { rejectsWith } from '../../../test/fixtures/errors.js';

const rejects = (pattern: RegExp) => rejectsWith('KILN_OIP_REQUEST_INVALID', pattern);

const RESULTS: Readonly<Record<string, HostTensor>> = {
  y: { type: 'float32', dims: [1, 3], data: Float32Array.of(0.5, -1.25, 2) },
  z: { type: 'int64', dims: [1], data: BigInt64Array.of(-3n) },
  mask: { type: 'bool', dims: [2], data: Uint8Array.of(1, 0) },
  half: { type: 'float16', dims: [2], data: Uint16Array.of(0x3c00, 0xc000) },
  text: { type: 'string', dims: [2], data: ['ab', ''] },
};

const encode = (outputs: readonly RequestedOutput[], extra: { id?: string; results?: Record<string, HostTensor>; labels?: Record<string, string> } = {}): EncodedResponse =>
  encodeInferResponse({ modelName: 'm', modelVersion: '1.0', outputs, results: extra.results ?? RESULTS, ...extra });

const json = (response: EncodedResponse): Record<string, unknown> => JSON.parse(new TextDecoder().decode(response.body));

/** Splits a §8 binary response into its JSON part and the bytes after it. */
function splitBinary(response: EncodedResponse): { json: { outputs: Record<string, unknown>[] } & Record<string, unknown>; tail: Uint8Array } {
  assert.equal(response.headers['content-type'], 'application/octet-stream');
  const length = Number(response.headers['inference-header-content-length']);
  assert.ok(Number.isInteger(length) && length > 0 && length <= response.body.length);
  return { json: JSON.parse(new TextDecoder().decode(response.body.subarray(0, length))), tail: response.body.subarray(length) };
}

const plain = (...names: string[]): RequestedOutput[] => names.map((name) => ({ name, binary: false }));

describe('encodeInferResponse: JSON', () => {
  it('writes every requested output flat, in request order, as plain JSON', () => {
    const response = encode(plain('text', 'half', 'mask', 'z', 'y'));
    assert.deepEqual(response.headers, { 'content-type': 'application/json' });
    assert.deepEqual(json(response), {
      model_name: 'm',
      model_version: '1.0',
      outputs: [
        { name: 'text', datatype: 'BYTES', shape: [2], data: ['ab', ''] },
        { name: 'half', datatype: 'FP16', shape: [2], data: [1, -2] },
        { name: 'mask', datatype: 'BOOL', shape: [2], data: [true, false] },
        { name: 'z', datatype: 'INT64', shape: [1], data: [-3] },
        { name: 'y', datatype: 'FP32', shape: [1, 3], data: [0.5, -1.25, 2] },
      ],
    });
  });

  it('returns only the outputs asked for', () => {
    assert.deepEqual(
      (json(encode(plain('z'))).outputs as { name: string }[]).map((output) => output.name),
      ['z'],
    );
  });

  it('echoes the id when given and has no id field otherwise', () => {
    assert.equal(json(encode(plain('z'), { id: 'abc' })).id, 'abc');
    assert.equal('id' in json(encode(plain('z'))), false);
  });

  it('refuses an output that is not among the results or has a type OIP cannot carry', () => {
    assert.throws(() => encode(plain('q')), rejects(/^output 'q' is not among the model's results \(y, z, mask, half, text\)$/));
    const int4: Record<string, HostTensor> = { n: { type: 'int4', dims: [2], data: Uint8Array.of(0x21) } };
    assert.throws(() => encode(plain('n'), { results: int4 }), rejects(/^output 'n' has type int4, which OIP cannot carry$/));
  });

  it('refuses NaN or Infinity in JSON, but sends them in binary', () => {
    const results = { y: { type: 'float32', dims: [2], data: Float32Array.of(1, NaN) } } as const;
    assert.throws(() => encode(plain('y'), { results }), rejects(/^output 'y': element 1 is NaN, which JSON cannot carry; request this output with parameters\.binary_data = true$/));
    const { tail } = splitBinary(encode([{ name: 'y', binary: true }], { results }));
    assert.ok(Number.isNaN(new Float32Array(tail.slice().buffer)[1]));
  });
});

describe('encodeInferResponse: binary', () => {
  it('lays out the JSON part then each binary output in order', () => {
    const response = encode(['y', 'z', 'mask', 'half', 'text'].map((name) => ({ name, binary: true })), { id: '7' });
    const { json: head, tail } = splitBinary(response);
    assert.equal(head.id, '7');
    assert.deepEqual(head.outputs, [
      { name: 'y', datatype: 'FP32', shape: [1, 3], parameters: { binary_data_size: 12 } },
      { name: 'z', datatype: 'INT64', shape: [1], parameters: { binary_data_size: 8 } },
      { name: 'mask', datatype: 'BOOL', shape: [2], parameters: { binary_data_size: 2 } },
      { name: 'half', datatype: 'FP16', shape: [2], parameters: { binary_data_size: 4 } },
      { name: 'text', datatype: 'BYTES', shape: [2], parameters: { binary_data_size: 10 } },
    ]);
    assert.deepEqual(
      tail,
      Uint8Array.of(
        ...[0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0xa0, 0xbf, 0x00, 0x00, 0x00, 0x40], // 0.5, -1.25, 2
        ...[0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // -3n
        ...[1, 0],
        ...[0x00, 0x3c, 0x00, 0xc0],
        ...[2, 0, 0, 0, 0x61, 0x62, 0, 0, 0, 0],
      ),
    );
  });

  it('keeps non-binary outputs as JSON in the same response', () => {
    const { json: head, tail } = splitBinary(encode([{ name: 'z', binary: false }, { name: 'y', binary: true }]));
    assert.deepEqual(head.outputs, [
      { name: 'z', datatype: 'INT64', shape: [1], data: [-3] },
      { name: 'y', datatype: 'FP32', shape: [1, 3], parameters: { binary_data_size: 12 } },
    ]);
    assert.deepEqual(new Float32Array(tail.slice().buffer), Float32Array.of(0.5, -1.25, 2));
  });

  it('sends BOOL as exactly 0 or 1 and 64-bit integers exactly', () => {
    const results: Record<string, HostTensor> = {
      b: { type: 'bool', dims: [2], data: Uint8Array.of(255, 0) },
      u: { type: 'uint64', dims: [1], data: BigUint64Array.of(2n ** 64n - 1n) },
    };
    const { tail } = splitBinary(encode([{ name: 'b', binary: true }, { name: 'u', binary: true }], { results }));
    assert.deepEqual(tail, Uint8Array.of(1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
  });
});

describe('encodeInferResponse: classification', () => {
  const scores: Record<string, HostTensor> = { y: { type: 'float64', dims: [4], data: Float64Array.of(1.1, 3.3, 0.5, 2.4) } };

  it('returns the top K as "<value>:<index>" for a 1-D output', () => {
    const out = json(encode([{ name: 'y', binary: false, classification: 2 }], { results: scores })).outputs;
    assert.deepEqual(out, [{ name: 'y', datatype: 'BYTES', shape: [2], data: ['3.3:1', '2.4:3'] }]);
  });

  it('adds labels by index when given, and ranks each row of a batch', () => {
    const batch: Record<string, HostTensor> = { y: { type: 'float32', dims: [2, 3], data: Float32Array.of(0.25, 0.5, 0.125, 2, 1, 4) } };
    const labels = { '0': 'cat', '1': 'dog', '2': 'owl' };
    const out = json(encode([{ name: 'y', binary: false, classification: 2 }], { results: batch, labels })).outputs;
    assert.deepEqual(out, [{ name: 'y', datatype: 'BYTES', shape: [2, 2], data: ['0.5:1:dog', '0.25:0:cat', '4:2:owl', '2:0:cat'] }]);
  });

  it('keeps the lower index first on ties and caps K at the row length', () => {
    const ties: Record<string, HostTensor> = { y: { type: 'int64', dims: [1, 3], data: BigInt64Array.of(5n, 9n, 5n) } };
    const out = json(encode([{ name: 'y', binary: false, classification: 10 }], { results: ties, labels: { '1': 'nine' } })).outputs;
    assert.deepEqual(out, [{ name: 'y', datatype: 'BYTES', shape: [1, 3], data: ['9:1:nine', '5:0', '5:2'] }]);
  });

  it('ranks NaN last and can be sent binary', () => {
    const nan: Record<string, HostTensor> = { y: { type: 'float32', dims: [3], data: Float32Array.of(NaN, -1, 0.5) } };
    const { json: head, tail } = splitBinary(encode([{ name: 'y', binary: true, classification: 3 }], { results: nan }));
    assert.deepEqual(head.outputs, [{ name: 'y', datatype: 'BYTES', shape: [3], parameters: { binary_data_size: tail.length } }]);
    const text = new TextDecoder().decode(tail);
    assert.ok(text.indexOf('0.5:2') < text.indexOf('-1:1') && text.indexOf('-1:1') < text.indexOf('NaN:0'), text);
  });

  it('refuses to classify a BYTES output', () => {
    assert.throws(() => encode([{ name: 'text', binary: false, classification: 1 }]), rejects(/^output 'text' is string; classification needs a numeric output$/));
  });
});
