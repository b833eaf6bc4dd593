/**
 * The OIP decoding thread's main module (see decoder.ts): decodes each request it is sent and
 * answers with the host tensors (their memory moved, not copied) or the error's code and message.
 */
import { parentPort } from 'node:worker_threads';
import { isKilnError } from '../../core/errors.js';
import { decodeInferRequest } from './request.js';
import type { DecodeMessage, DecodedMessage } from './decoder.js';

const port = parentPort!;
port.on('message', ({ id, body, headerLength, signature }: DecodeMessage) => {
  let answer: DecodedMessage;
  const moved: ArrayBuffer[] = [];
  try {
    const request = decodeInferRequest(body, headerLength, signature);
    for (const tensor of Object.values(request.inputs)) {
      if (!Array.isArray(tensor.data) && tensor.data.buffer instanceof ArrayBuffer) moved.push(tensor.data.buffer);
    }
    answer = { id, request };
  } catch (error) {
    answer = isKilnError(error)
      ? { id, error: { code: error.code, message: error.message } }
      : { id, error: { code: 'KILN_CORE_INTERNAL', message: `decoding failed: ${error instanceof Error ? error.message : String(error)}` } };
  }
  port.postMessage(answer, [...new Set(moved)]);
});
