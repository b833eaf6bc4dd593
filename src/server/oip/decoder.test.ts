import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { KilnError } from '../../core/errors.js';
import { OFF_LOOP_JSON_BYTES, OipDecoder } from './decoder.js';
import { decodeInferRequest, type ModelSignature } from './request.js';

const signature: ModelSignature = {
  inputs: [{ name: 'x', type: 'float32', shape: ['N', 4] }],
  outputs: [{ name: 'y', type: 'int64', shape: ['N'] }],
};
const body = (rows: number, values = rows * 4) =>
  new TextEncoder().encode(JSON.stringify({ id: 'r', inputs: [{ name: 'x', shape: [rows, 4], datatype: 'FP32', data: Array.from({ length: values }, (_, i) => i / 3) }] }));

describe('OipDecoder', () => {
  const decoder = new OipDecoder();
  after(() => decoder.close());

  it('decodes a large JSON body in its thread to what the inline decoder gives, several at once', async () => {
    const large = body(4000);
    assert.ok(large.length >= OFF_LOOP_JSON_BYTES);
    const expected = decodeInferRequest(large, undefined, signature);
    const decoded = await Promise.all([body(4000), body(4000), body(3000)].map((bytes) => decoder.decode(bytes, undefined, signature)));
    assert.deepEqual(decoded[0], expected);
    assert.deepEqual(decoded[1], expected);
    assert.deepEqual(decoded[2]!.inputs['x']!.dims, [3000, 4]);
    assert.ok(decoded[0]!.inputs['x']!.data instanceof Float32Array);
    // The body's memory moved to the thread: proof it was decoded there, not inline.
    const sent = body(4000);
    await decoder.decode(sent, undefined, signature);
    assert.equal(sent.byteLength, 0);
  });

  it('keeps the error code and message of a malformed large body', async () => {
    await assert.rejects(decoder.decode(body(4000, 15_999), undefined, signature), (error: unknown) => {
      assert.ok(error instanceof KilnError);
      assert.equal(error.code, 'KILN_OIP_REQUEST_INVALID');
      assert.equal(error.message, "input 'x': 15999 values for shape [4000, 4] (16000 expected)");
      return true;
    });
  });

  it('holds the process while a decode is pending, and lets it exit when idle, even if never closed', () => {
    const script = [
      `import { OipDecoder } from ${JSON.stringify(new URL('./decoder.ts', import.meta.url).href)};`,
      'const body = new TextEncoder().encode(JSON.stringify({ inputs: [{ name: "x", shape: [20000], datatype: "FP32", data: Array.from({ length: 20000 }, (_, i) => i) }] }));',
      'const request = await new OipDecoder().decode(body, undefined, { inputs: [{ name: "x", type: "float32", shape: ["N"] }], outputs: [] });',
      'console.log("decoded", request.inputs.x.dims[0]);',
    ].join('\n');
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), 'decoded 20000');
  });

  it('decodes small JSON and binary-extension bodies inline, with the same checks', async () => {
    assert.deepEqual((await decoder.decode(body(2), undefined, signature)).inputs['x']!.dims, [2, 4]);
    await assert.rejects(decoder.decode(body(2, 7), undefined, signature), /7 values for shape \[2, 4\]/);
  });
});
