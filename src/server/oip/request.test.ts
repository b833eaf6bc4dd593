import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeInferRequest, type ModelSignature } from './request.js';
import { rejectsWith } from '../../../test/fixtures/errors.js';

const rejects = (pattern: RegExp) => rejectsWith('KILN_OIP_REQUEST_INVALID', pattern);

const SIGNATURE: ModelSignature = {
  inputs: [
    { name: 'x', type: 'float32', shape: ['batch', 2, 2] },
    { name: 'ids', type: 'int64', shape: [null] },
    { name: 'mask', type: 'bool', shape: [2] },
    { name: 'half', type: 'float16', shape: null },
    { name: 'text', type: 'string', shape: ['n'] },
  ],
  outputs: [
    { name: 'y', type: 'float32', shape: ['batch', 3] },
    { name: 'z', type: 'int64', shape: ['batch'] },
  ],
};

type Json = Record<string, unknown>;

function inputs(): Json[] {
  return [
    { name: 'x', datatype: 'FP32', shape: [1, 2, 2], data: [1.5, -2, 0.25, 4] },
    { name: 'ids', datatype: 'INT64', shape: [2], data: [-7, 2 ** 53 - 1] },
    { name: 'mask', datatype: 'BOOL', shape: [2], data: [true, false] },
    { name: 'half', datatype: 'FP16', shape: [2], data: [1, 0.1] },
    { name: 'text', datatype: 'BYTES', shape: [2], data: ['ab', ''] },
  ];
}

const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

/** Decodes a JSON-only request. */
function decodeJson(request: Json, signature = SIGNATURE) {
  return decodeInferRequest(encode(request), undefined, signature);
}

/** Decodes a request with a JSON header and a binary tail; `header` overrides the length header. */
function decodeBinary(request: Json, tail: readonly Uint8Array[], header?: string, signature = SIGNATURE) {
  const json = encode(request);
  const body = Buffer.concat([json, ...tail]);
  return decodeInferRequest(body, header ?? String(json.length), signature);
}

/** One input of the default request, replaced by `change`. */
function withInput(name: string, change: Json): Json {
  return { inputs: inputs().map((input) => (input['name'] === name ? { ...input, ...change } : input)) };
}

const bytes = (array: ArrayBufferView): Uint8Array => new Uint8Array(array.buffer, array.byteOffset, array.byteLength);

describe('decodeInferRequest: tensors', () => {
  it('decodes JSON inputs of every kind into host storage', () => {
    const request = decodeJson({ inputs: inputs() });
    assert.deepEqual(Object.keys(request.inputs), ['x', 'ids', 'mask', 'half', 'text']);
    assert.deepEqual(request.inputs['x'], { type: 'float32', dims: [1, 2, 2], data: Float32Array.of(1.5, -2, 0.25, 4) });
    assert.deepEqual(request.inputs['ids'], { type: 'int64', dims: [2], data: BigInt64Array.of(-7n, 2n ** 53n - 1n) });
    assert.deepEqual(request.inputs['mask'], { type: 'bool', dims: [2], data: Uint8Array.of(1, 0) });
    assert.deepEqual(request.inputs['half'], { type: 'float16', dims: [2], data: Uint16Array.of(0x3c00, 0x2e66) });
    assert.deepEqual(request.inputs['text'], { type: 'string', dims: [2], data: ['ab', ''] });
  });

  it('gives the same tensors for binary inputs as for JSON', () => {
    const fromJson = decodeJson({ inputs: inputs() });
    const header = inputs().map((input) => {
      const { data: _data, ...rest } = input;
      const size = { x: 16, ids: 16, mask: 2, half: 4, text: 10 }[input['name'] as string];
      return { ...rest, parameters: { binary_data_size: size } };
    });
    const tail = [
      bytes(Float32Array.of(1.5, -2, 0.25, 4)),
      bytes(BigInt64Array.of(-7n, 2n ** 53n - 1n)),
      Uint8Array.of(1, 0),
      Uint8Array.of(0x00, 0x3c, 0x66, 0x2e),
      Uint8Array.of(2, 0, 0, 0, 0x61, 0x62, 0, 0, 0, 0),
    ];
    const fromBinary = decodeBinary({ inputs: header }, tail);
    assert.deepEqual(fromBinary.inputs, fromJson.inputs);
  });

  it('copies binary data into aligned arrays even from an odd offset in the body', () => {
    const json = encode({ inputs: [{ name: 'v', datatype: 'FP64', shape: [1], parameters: { binary_data_size: 8 } }] });
    const backing = new Uint8Array(json.length + 8 + 3);
    backing.set(json, 3);
    backing.set(bytes(Float64Array.of(2.5)), 3 + json.length);
    const body = backing.subarray(3);
    const request = decodeInferRequest(body, String(json.length), { inputs: [{ name: 'v', type: 'float64', shape: [1] }], outputs: [] });
    const data = request.inputs['v']!.data as Float64Array;
    assert.deepEqual(data, Float64Array.of(2.5));
    assert.equal(data.byteOffset, 0);
    assert.notEqual(data.buffer, backing.buffer);
  });

  it('mixes JSON and binary inputs, taking binary bytes in input order', () => {
    const request = decodeBinary(
      {
        inputs: inputs().map((input) =>
          input['name'] === 'ids' || input['name'] === 'mask' ? { ...input, data: undefined, parameters: { binary_data_size: input['name'] === 'ids' ? 16 : 2 } } : input,
        ),
      },
      [bytes(BigInt64Array.of(99n, -1n)), Uint8Array.of(0, 1)],
    );
    assert.deepEqual(request.inputs['ids'], { type: 'int64', dims: [2], data: BigInt64Array.of(99n, -1n) });
    assert.deepEqual(request.inputs['mask'], { type: 'bool', dims: [2], data: Uint8Array.of(0, 1) });
    assert.deepEqual(request.inputs['x']?.data, Float32Array.of(1.5, -2, 0.25, 4));
  });

  it('reads nested data as the same tensor as flat data', () => {
    const flat = decodeJson({ inputs: inputs() });
    const nested = decodeJson(withInput('x', { data: [[[1.5, -2], [0.25, 4]]] }));
    assert.deepEqual(nested.inputs, flat.inputs);
    const ragged = decodeJson(withInput('x', { data: [[1.5], [-2, [0.25, [4]]]] }));
    assert.deepEqual(ragged.inputs['x'], flat.inputs['x'], 'nesting need not be rectangular');
  });

  it('accepts any size for symbolic and unknown dims and any rank for an unknown shape', () => {
    const request = decodeJson({
      inputs: inputs().map((input) => {
        if (input['name'] === 'x') return { ...input, shape: [0, 2, 2], data: [] };
        if (input['name'] === 'half') return { ...input, shape: [1, 1, 2], data: [[[1, 2]]] };
        return input;
      }),
    });
    assert.deepEqual(request.inputs['x']?.dims, [0, 2, 2]);
    assert.deepEqual(request.inputs['half']?.dims, [1, 1, 2]);
  });
});

describe('decodeInferRequest: id, parameters and outputs', () => {
  it('echoes the id unchanged and leaves it out when absent', () => {
    assert.equal(decodeJson({ id: ' 42 ', inputs: inputs() }).id, ' 42 ');
    assert.equal('id' in decodeJson({ inputs: inputs() }), false);
  });

  it('returns the request parameters', () => {
    assert.deepEqual(decodeJson({ parameters: { custom: 'a', n: 1 }, inputs: inputs() }).parameters, { custom: 'a', n: 1 });
    assert.deepEqual(decodeJson({ inputs: inputs() }).parameters, {});
  });

  it('asks for every model output when outputs is absent or empty, binary per binary_data_output', () => {
    const all = [
      { name: 'y', binary: false },
      { name: 'z', binary: false },
    ];
    assert.deepEqual(decodeJson({ inputs: inputs() }).outputs, all);
    assert.deepEqual(decodeJson({ inputs: inputs(), outputs: [] }).outputs, all);
    assert.deepEqual(decodeJson({ inputs: inputs(), parameters: { binary_data_output: true } }).outputs, [
      { name: 'y', binary: true },
      { name: 'z', binary: true },
    ]);
  });

  it('returns only the requested outputs, in request order, with per-output overrides', () => {
    const request = decodeJson({
      inputs: inputs(),
      parameters: { binary_data_output: true },
      outputs: [{ name: 'z' }, { name: 'y', parameters: { binary_data: false, classification: 3 } }],
    });
    assert.deepEqual(request.outputs, [
      { name: 'z', binary: true },
      { name: 'y', binary: false, classification: 3 },
    ]);
    assert.deepEqual(decodeJson({ inputs: inputs(), outputs: [{ name: 'y', parameters: { binary_data: true } }] }).outputs, [{ name: 'y', binary: true }]);
  });

  it('rejects unknown, repeated and badly parameterised outputs', () => {
    assert.throws(() => decodeJson({ inputs: inputs(), outputs: [{ name: 'q' }] }), rejects(/^unknown output 'q' \(the model's outputs: y, z\)$/));
    assert.throws(() => decodeJson({ inputs: inputs(), outputs: [{ name: 'y' }, { name: 'y' }] }), rejects(/output 'y' is requested twice/));
    for (const bad of [0, -1, 1.5, '3', true]) {
      assert.throws(
        () => decodeJson({ inputs: inputs(), outputs: [{ name: 'y', parameters: { classification: bad } }] }),
        rejects(/^output 'y': parameters\.classification must be a positive integer/),
      );
    }
    assert.throws(() => decodeJson({ inputs: inputs(), outputs: [{ name: 'y', parameters: { binary_data: 'yes' } }] }), rejects(/output 'y': parameters\.binary_data must be a boolean/));
    assert.throws(() => decodeJson({ inputs: inputs(), parameters: { binary_data_output: 1 } }), rejects(/the request: parameters\.binary_data_output must be a boolean/));
  });
});

describe('decodeInferRequest: JSON validation', () => {
  it('rejects a body that is not JSON', () => {
    assert.throws(() => decodeInferRequest(new TextEncoder().encode('{'), undefined, SIGNATURE), rejects(/^the request is not valid JSON/));
    assert.throws(() => decodeInferRequest(Uint8Array.of(0xff, 0x7b), undefined, SIGNATURE), rejects(/not valid JSON/));
  });

  it('rejects fields of the wrong JSON type, naming the field', () => {
    assert.throws(() => decodeJson({ inputs: {} }), rejects(/^request inputs: /));
    assert.throws(() => decodeJson({ id: 42, inputs: inputs() }), rejects(/^request id: /));
    assert.throws(() => decodeJson(withInput('x', { shape: [1, -2, 2] })), rejects(/^request inputs\[0\]\.shape\[1\]: /));
    assert.throws(() => decodeJson(withInput('x', { shape: [1, 2.5, 2] })), rejects(/^request inputs\[0\]\.shape\[1\]: /));
    assert.throws(() => decodeJson({ inputs: [{ datatype: 'FP32', shape: [1], data: [1] }] }), rejects(/^request inputs\[0\]\.name: /));
    assert.throws(() => decodeJson({ inputs: inputs(), parameters: { a: null } }), rejects(/^request parameters\.a: /));
    assert.throws(() => decodeJson({ inputs: inputs(), outputs: [{ name: 3 }] }), rejects(/^request outputs\[0\]\.name: /));
    assert.throws(() => decodeJson([] as unknown as Json), rejects(/^request body: /));
    assert.throws(() => decodeJson(withInput('x', { data: 1.5 })), rejects(/^input 'x': data must be an array$/));
    assert.throws(() => decodeJson(withInput('x', { data: undefined })), rejects(/^input 'x': has neither data nor parameters\.binary_data_size$/));
  });

  it('rejects unknown, missing and repeated inputs', () => {
    assert.throws(() => decodeJson({ inputs: [...inputs(), { name: 'w', datatype: 'FP32', shape: [1], data: [1] }] }), rejects(/^unknown input 'w' \(the model's inputs: x, ids, mask, half, text\)$/));
    assert.throws(() => decodeJson({ inputs: inputs().filter((input) => input['name'] !== 'x' && input['name'] !== 'mask') }), rejects(/^missing model inputs 'x', 'mask'$/));
    assert.throws(() => decodeJson({ inputs: inputs().slice(1) }), rejects(/^missing model input 'x'$/));
    assert.throws(() => decodeJson({ inputs: [...inputs(), inputs()[0]] }), rejects(/^input 'x' is given twice$/));
  });

  it('rejects datatypes that are not OIP names or do not match the model', () => {
    assert.throws(() => decodeJson(withInput('x', { datatype: 'FOO' })), rejects(/^input 'x': 'FOO' is not an OIP datatype$/));
    assert.throws(() => decodeJson(withInput('x', { datatype: 'fp32' })), rejects(/'fp32' is not an OIP datatype/));
    assert.throws(() => decodeJson(withInput('x', { datatype: 'FP64' })), rejects(/^input 'x': datatype FP64 does not match the model's FP32$/));
    const bf16: ModelSignature = { inputs: [{ name: 'b', type: 'bfloat16', shape: [1] }], outputs: [] };
    assert.throws(() => decodeJson({ inputs: [{ name: 'b', datatype: 'FP16', shape: [1], data: [1] }] }, bf16), rejects(/^input 'b': the model's type bfloat16 has no OIP datatype$/));
  });

  it('rejects a wrong rank or fixed dimension', () => {
    assert.throws(() => decodeJson(withInput('x', { shape: [4, 1], data: [1, 2, 3, 4] })), rejects(/^input 'x': shape \[4, 1\] has rank 2; the model expects rank 3 \(\[-1, 2, 2\]\)$/));
    assert.throws(() => decodeJson(withInput('x', { shape: [1, 2, 3], data: [1, 2, 3, 4, 5, 6] })), rejects(/^input 'x': shape \[1, 2, 3\] has 3 at axis 2; the model expects 2 \(\[-1, 2, 2\]\)$/));
  });

  it('rejects an element count that does not fill the shape', () => {
    assert.throws(() => decodeJson(withInput('x', { shape: [2, 2, 2], data: [1, 2, 3, 4, 5, 6, 7] })), rejects(/^input 'x': 7 values for shape \[2, 2, 2\] \(8 expected\)$/));
    assert.throws(() => decodeJson(withInput('x', { data: [[1, 2], [3, 4], [5]] })), rejects(/^input 'x': 5 values for shape \[1, 2, 2\] \(4 expected\)$/));
  });

  it('rejects values that do not fit the datatype', () => {
    assert.throws(() => decodeJson(withInput('ids', { data: [1, 2.5] })), rejects(/^input 'ids': element 1 \(2\.5\) is not an integer for INT64$/));
    assert.throws(() => decodeJson(withInput('ids', { data: [1, 2 ** 53] })), rejects(/^input 'ids': element 1 \(9007199254740992\) is out of range/));
    assert.throws(() => decodeJson(withInput('mask', { data: [1, 0] })), rejects(/^input 'mask': element 0 \(1\) is not a boolean for BOOL$/));
    assert.throws(() => decodeJson(withInput('text', { data: ['a', 5] })), rejects(/^input 'text': element 1 \(5\) is not a string for BYTES$/));
    assert.throws(() => decodeJson(withInput('x', { data: ['a', 1, 2, 3] })), rejects(/^input 'x': element 0 \("a"\) is not a number for FP32$/));
    assert.throws(() => decodeJson(withInput('half', { data: [1, 1e6] })), rejects(/^input 'half': element 1 \(1000000\) is out of range for FP16$/));
  });
});

describe('decodeInferRequest: binary framing', () => {
  const xBinary = (size: number): Json => withInput('x', { data: undefined, parameters: { binary_data_size: size } });
  const xBytes = bytes(Float32Array.of(1.5, -2, 0.25, 4));

  it('rejects an Inference-Header-Content-Length that is not a non-negative integer or too large', () => {
    for (const header of ['abc', '-1', '1.5', '', '0x10']) {
      assert.throws(() => decodeBinary(xBinary(16), [xBytes], header), rejects(/^Inference-Header-Content-Length '.*' is not a non-negative integer$/), header);
    }
    assert.throws(() => decodeInferRequest(new Uint8Array(10), '11', SIGNATURE), rejects(/^Inference-Header-Content-Length 11 is larger than the body \(10 bytes\)$/));
  });

  it('rejects an input with both data and binary_data_size, or binary_data_size without the header', () => {
    assert.throws(() => decodeBinary(withInput('x', { parameters: { binary_data_size: 16 } }), [xBytes]), rejects(/^input 'x': has both data and parameters\.binary_data_size$/));
    assert.throws(() => decodeJson(xBinary(16)), rejects(/^input 'x': parameters\.binary_data_size is set but the Inference-Header-Content-Length header is missing$/));
    assert.throws(() => decodeBinary(xBinary(-16), [xBytes]), rejects(/binary_data_size must be a non-negative integer, not -16/));
    assert.throws(() => decodeBinary(xBinary('16' as unknown as number), [xBytes]), rejects(/binary_data_size must be a non-negative integer, not "16"/));
  });

  it('rejects too few bytes, bytes left over, and a size that does not fit the shape', () => {
    assert.throws(() => decodeBinary(xBinary(16), [xBytes.subarray(0, 15)]), rejects(/^input 'x': binary_data_size 16 but only 15 bytes are left in the body$/));
    assert.throws(() => decodeBinary(xBinary(16), [xBytes, Uint8Array.of(0)]), rejects(/^1 bytes left over after the last binary input/));
    assert.throws(() => decodeBinary({ inputs: inputs() }, [Uint8Array.of(0, 0)]), rejects(/^2 bytes left over/));
    assert.throws(() => decodeBinary(xBinary(15), [xBytes.subarray(0, 15)]), rejects(/^input 'x': binary_data_size 15 for 4 FP32 elements \(16 bytes expected\)$/));
    assert.throws(() => decodeBinary(xBinary(17), [xBytes, Uint8Array.of(0)]), rejects(/binary_data_size 17 for 4 FP32 elements \(16 bytes expected\)/));
  });

  it('rejects BYTES framing problems and BOOL bytes other than 0 or 1', () => {
    const text = (tail: Uint8Array) => decodeBinary(withInput('text', { data: undefined, parameters: { binary_data_size: tail.length } }), [tail]);
    assert.throws(() => text(Uint8Array.of(3, 0, 0, 0, 0x61, 0x62)), rejects(/^input 'text': BYTES element 0 \(3 bytes\) runs past the tensor's 6 bytes$/));
    assert.throws(() => text(Uint8Array.of(0, 0, 0, 0, 1, 0)), rejects(/the length prefix of BYTES element 1 runs past/));
    assert.throws(() => text(Uint8Array.of(1, 0, 0, 0, 0x61)), rejects(/^input 'text': 1 BYTES elements for shape \[2\] \(2 expected\)$/));
    const mask = withInput('mask', { data: undefined, parameters: { binary_data_size: 2 } });
    assert.throws(() => decodeBinary(mask, [Uint8Array.of(1, 2)]), rejects(/^input 'mask': BOOL element 1 is byte 2, not 0 or 1$/));
  });
});

describe('decodeInferRequest: raw binary request', () => {
  const one: ModelSignature = { inputs: [{ name: 'x', type: 'float32', shape: ['batch', 2] }], outputs: [{ name: 'y', type: 'float32', shape: ['batch'] }] };

  it('takes the whole body as the only input, sizing the variable dimension, with binary outputs', () => {
    const request = decodeInferRequest(bytes(Float32Array.of(1, 2, 3, 4)), '0', one);
    assert.deepEqual(request.inputs, { x: { type: 'float32', dims: [2, 2], data: Float32Array.of(1, 2, 3, 4) } });
    assert.deepEqual(request.outputs, [{ name: 'y', binary: true }]);
    assert.deepEqual(request.parameters, {});
  });

  it('rejects models and bodies it cannot frame', () => {
    assert.throws(() => decodeInferRequest(new Uint8Array(12), '0', one), rejects(/^input 'x': a raw body of 12 bytes does not fill shape \[-1, 2\] of FP32$/));
    assert.throws(() => decodeInferRequest(new Uint8Array(8), '0', SIGNATURE), rejects(/needs a model with one input; this one has 5/));
    const text: ModelSignature = { inputs: [{ name: 's', type: 'string', shape: [1] }], outputs: [] };
    assert.throws(() => decodeInferRequest(new Uint8Array(8), '0', text), rejects(/cannot carry type string/));
    const twoFree: ModelSignature = { inputs: [{ name: 'x', type: 'float32', shape: ['a', 'b'] }], outputs: [] };
    assert.throws(() => decodeInferRequest(new Uint8Array(8), '0', twoFree), rejects(/at most one variable dimension, the model has 2/));
  });
});
