import { KilnError } from '../core/errors.js';

/** A short description of a value for error messages (`null`, `a number`, `Object`). */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  return typeof value === 'object' ? value.constructor?.name ?? 'an object' : `a ${typeof value}`;
}

const encoder = new TextEncoder();

/** A handler result as response bytes: bytes as is, strings as UTF-8, anything else as 2-space JSON. */
export function encodeResult(result: unknown, index: number): { body: Uint8Array; json: boolean } {
  if (result instanceof Uint8Array) return { body: result, json: false };
  if (typeof result === 'string') return { body: encoder.encode(result), json: false };
  let text: string | undefined;
  try {
    text = JSON.stringify(result, rejectUnserializable, 2);
  } catch (error) {
    throw unserializable(index, (error as Error).message, error);
  }
  if (text === undefined) throw unserializable(index, `${describeValue(result)} has no JSON form`);
  return { body: encoder.encode(`${text}\n`), json: true };
}

/** JSON.stringify silently drops functions and symbols and turns NaN into null; refuse instead. */
function rejectUnserializable(this: unknown, key: string, value: unknown): unknown {
  if (typeof value === 'function' || typeof value === 'symbol') throw new TypeError(`'${key}' is a ${typeof value}`);
  if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError(`'${key}' is ${value}`);
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value as unknown as ArrayLike<number>);
  return value;
}

function unserializable(index: number, reason: string, cause?: unknown): KilnError {
  return new KilnError('KILN_HANDLER_OUTPUT_UNSERIALIZABLE', `Unsupported model output data type. (request ${index}: ${reason})`, {
    cause,
    details: { requestIndex: index },
  });
}
