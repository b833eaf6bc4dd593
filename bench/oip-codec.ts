/**
 * `npm run bench:oip`: what an Open Inference Protocol v2 request costs the server's event loop,
 * where kiln decodes and checks it before it joins a batch (so a malformed request is refused
 * alone and never fails the other requests of a batch). JSON `data` and the binary tensor
 * extension are measured side by side, in alternating rounds, for the tensors the PP-OCR
 * classifier takes ([N, 3, 48, 192] FP32) and answers ([N, 2] FP32).
 *
 * Usage: npm run bench:oip [-- --rounds R]
 */
import { cpus } from 'node:os';
import { table } from '../src/cli/format.js';
import { quantile } from '../src/evaluate/latency.js';
import type { SignatureEntry } from '../src/onnx/summary.js';
import { decodeInferRequest } from '../src/server/oip/request.js';
import { encodeInferResponse } from '../src/server/oip/response.js';

const roundsFlag = process.argv.indexOf('--rounds');
const ROUNDS = roundsFlag > 0 ? Number(process.argv[roundsFlag + 1]) : 10;
const CALLS_PER_ROUND = 40;

const signature = {
  inputs: [{ name: 'x', type: 'float32', shape: ['N', 3, 48, 192] }] as SignatureEntry[],
  outputs: [{ name: 'y', type: 'float32', shape: ['N', 2] }] as SignatureEntry[],
};

function requests(batch: number): { json: Uint8Array; binary: Uint8Array; header: string } {
  const values = Float32Array.from({ length: batch * 3 * 48 * 192 }, (_, i) => Math.sin(i) * 2);
  const shape = [batch, 3, 48, 192];
  const json = new TextEncoder().encode(JSON.stringify({ inputs: [{ name: 'x', shape, datatype: 'FP32', data: Array.from(values) }] }));
  const head = new TextEncoder().encode(JSON.stringify({ inputs: [{ name: 'x', shape, datatype: 'FP32', parameters: { binary_data_size: values.byteLength } }] }));
  const binary = new Uint8Array(head.length + values.byteLength);
  binary.set(head);
  binary.set(new Uint8Array(values.buffer), head.length);
  return { json, binary, header: String(head.length) };
}

/** Median milliseconds per call of each function, measured in alternating rounds. */
function alternate(calls: Record<string, () => unknown>): Record<string, number> {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(calls).map((name) => [name, []]));
  for (const call of Object.values(calls)) for (let i = 0; i < 10; i++) call();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, call] of Object.entries(calls)) {
      const start = performance.now();
      for (let i = 0; i < CALLS_PER_ROUND; i++) call();
      times[name]!.push((performance.now() - start) / CALLS_PER_ROUND);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([name, values]) => [name, quantile([...values].sort((a, b) => a - b), 0.5)]));
}

console.log(`kiln bench:oip — ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} cores), node ${process.version}; ${ROUNDS} alternating rounds of ${CALLS_PER_ROUND} calls\n`);
const rows: string[][] = [];
for (const batch of [1, 8]) {
  const { json, binary, header } = requests(batch);
  const results = { y: { type: 'float32' as const, dims: [batch, 2], data: Float32Array.from({ length: batch * 2 }, (_, i) => i / 7) } };
  const ms = alternate({
    decodeJson: () => decodeInferRequest(json, undefined, signature),
    decodeBinary: () => decodeInferRequest(binary, header, signature),
    encodeJson: () => encodeInferResponse({ modelName: 'cls', modelVersion: '1.0', outputs: [{ name: 'y', binary: false }], results }),
    encodeBinary: () => encodeInferResponse({ modelName: 'cls', modelVersion: '1.0', outputs: [{ name: 'y', binary: true }], results }),
  });
  rows.push(
    [`[${batch},3,48,192] request`, `${(json.length / 1024).toFixed(0)} KiB`, ms['decodeJson']!.toFixed(3), `${(binary.length / 1024).toFixed(0)} KiB`, ms['decodeBinary']!.toFixed(3), (ms['decodeJson']! / ms['decodeBinary']!).toFixed(1)],
    [`[${batch},2] response`, '', ms['encodeJson']!.toFixed(3), '', ms['encodeBinary']!.toFixed(3), (ms['encodeJson']! / ms['encodeBinary']!).toFixed(1)],
  );
}
console.log(table(['tensor', 'JSON size', 'JSON ms', 'binary size', 'binary ms', 'JSON/binary'], rows));
console.log('\n(ms: event-loop time per request, median of rounds; decode includes the checks against the model signature)');
