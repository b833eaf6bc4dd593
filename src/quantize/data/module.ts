/**
 * Calibration from a user module (`.js`, `.mjs`, or `.ts` where a TypeScript loader runs: tsx in
 * this repository, `node --import tsx` for an installed kiln): its default
 * export is an iterable or async iterable of feeds, or a function (maybe async) returning one,
 * called with `{ limit }`. A function is re-called for each pass over the data; a bare iterable
 * (a generator object, say) can only be read once. Each sample is checked as it arrives: an
 * object of `{ type, dims, data }` tensors (onnxruntime Tensors qualify) whose data fills dims;
 * plain number arrays are copied into the typed array of their type.
 *
 * @example
 * // calib.ts
 * export default async function* ({ limit = 100 }) {
 *   for (let i = 0; i < limit; i++) yield { x: { type: 'float32', dims: [1, 4], data: new Float32Array(4).fill(i) } };
 * }
 */
import { pathToFileURL } from 'node:url';
import { KilnError, describeError } from '../../core/errors.js';
import type { HostTensor, HostTensorType } from '../../runtime/tensors.js';
import type { CalibrationSource, Feeds } from './types.js';

type ArrayClass = { new (values: ArrayLike<number> | ArrayLike<bigint>): ArrayLike<unknown> } & { readonly name: string };

/** The typed array onnxruntime-node stores each type in (float16 as raw bits, bool as bytes). */
const ARRAYS: Readonly<Partial<Record<HostTensorType, ArrayClass>>> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

function invalid(message: string, details: Record<string, unknown>): KilnError {
  return new KilnError('KILN_QUANTIZE_CALIBRATION_INVALID', message, { details });
}

/** Copies a plain array into the typed array of `type` (bigint types take integer numbers). */
function fromPlainArray(values: readonly unknown[], type: HostTensorType, where: string): HostTensor['data'] {
  if (type === 'string') {
    if (!values.every((value) => typeof value === 'string')) throw invalid(`${where}: a string tensor's data must hold strings`, {});
    return values as string[];
  }
  if (type === 'float16') throw invalid(`${where}: float16 data must be a Uint16Array of raw half-precision bits`, {});
  const Constructor = ARRAYS[type]!;
  const big = type === 'int64' || type === 'uint64';
  const converted = values.map((value) => {
    if (typeof value === 'bigint' && big) return value;
    if (typeof value === 'number' && (!big || Number.isInteger(value))) return big ? BigInt(value) : value;
    if (typeof value === 'boolean' && type === 'bool') return value ? 1 : 0;
    throw invalid(`${where}: data holds ${typeof value} ${String(value)}, which ${type} cannot hold`, {});
  });
  return new Constructor(converted as never) as HostTensor['data'];
}

/**
 * Checks that `value` is one sample of feeds and returns it as fresh host tensors.
 * @throws KilnError `KILN_QUANTIZE_CALIBRATION_INVALID` naming the sample index and the input.
 */
export function toFeeds(value: unknown, index: number): Feeds {
  const sample = `calibration sample ${index}`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalid(`${sample} is ${Array.isArray(value) ? 'an array' : String(value === null ? 'null' : typeof value)}; expected an object of tensors by input name`, { index });
  }
  const feeds: Record<string, HostTensor> = {};
  const names = Object.keys(value);
  if (names.length === 0) throw invalid(`${sample} has no inputs`, { index });
  for (const name of names) {
    const where = `${sample}: input '${name}'`;
    const tensor = (value as Record<string, unknown>)[name] as Partial<HostTensor> | null | undefined;
    if (tensor === null || typeof tensor !== 'object') throw invalid(`${where} is not a { type, dims, data } tensor`, { index, input: name });
    const { type, dims, data } = tensor;
    if (typeof type !== 'string' || (type !== 'string' && !ARRAYS[type])) {
      throw invalid(`${where} has type ${JSON.stringify(type)}; expected one of ${[...Object.keys(ARRAYS), 'string'].join(', ')}`, { index, input: name });
    }
    if (!Array.isArray(dims) || !dims.every((dim) => Number.isSafeInteger(dim) && dim >= 0)) {
      throw invalid(`${where} has dims ${JSON.stringify(dims)}; expected an array of non-negative integers`, { index, input: name });
    }
    let values: HostTensor['data'];
    if (Array.isArray(data)) values = fromPlainArray(data, type, where);
    else if (type !== 'string' && ArrayBuffer.isView(data) && data.constructor === ARRAYS[type]) values = data as HostTensor['data'];
    else {
      const wanted = type === 'string' ? 'an array of strings' : `a ${ARRAYS[type]!.name} or a plain array`;
      const got = data === null || typeof data !== 'object' ? String(data) : (data.constructor?.name ?? 'an object');
      throw invalid(`${where}: data is ${got}; a ${type} tensor needs ${wanted}`, { index, input: name });
    }
    const count = dims.reduce((product: number, dim: number) => product * dim, 1);
    if (values.length !== count) {
      throw invalid(`${where} has ${values.length} values for dims [${dims.join(', ')}] (${count} needed)`, { index, input: name });
    }
    feeds[name] = { type, dims: [...dims], data: values };
  }
  return feeds;
}

function isIterable(value: unknown): value is Iterable<unknown> | AsyncIterable<unknown> {
  return value !== null && typeof value === 'object' && (Symbol.asyncIterator in value || Symbol.iterator in value);
}

/** Options of {@link moduleSource}. */
export interface ModuleSourceOptions {
  /** Use at most this many samples; also passed to a default-export function. @defaultValue all */
  readonly limit?: number;
}

/**
 * A calibration source backed by a user module; the module is imported on first use.
 * @throws KilnError `KILN_QUANTIZE_CALIBRATION_INVALID` (while iterating) when the module cannot
 *   be loaded, its default export is not usable, or a sample is malformed.
 */
export function moduleSource(file: string, options: ModuleSourceOptions = {}): CalibrationSource {
  const limit = options.limit ?? Infinity;
  async function open(): Promise<Iterable<unknown> | AsyncIterable<unknown>> {
    let exported: unknown;
    try {
      exported = ((await import(pathToFileURL(file).href)) as { default?: unknown }).default;
    } catch (error) {
      // The installed (compiled) kiln has no TypeScript loader: say how to get one.
      const hint = (error as { code?: unknown }).code === 'ERR_UNKNOWN_FILE_EXTENSION' ? '; compile it to .js, or run kiln under node --import tsx' : '';
      throw new KilnError('KILN_QUANTIZE_CALIBRATION_INVALID', `${file}: cannot load the calibration module (${describeError(error)})${hint}`, {
        cause: error,
        details: { file },
      });
    }
    const produced = typeof exported === 'function' ? await (exported as (options: { limit?: number }) => unknown)(options.limit === undefined ? {} : { limit: options.limit }) : exported;
    if (!isIterable(produced)) {
      throw invalid(
        `${file}: the default export must be an iterable of feeds, or a function returning one (got ${typeof exported === 'function' ? `a function returning ${produced === null ? 'null' : typeof produced}` : exported === null ? 'null' : typeof exported})`,
        { file },
      );
    }
    return produced;
  }
  return {
    description: `samples from ${file}`,
    count: undefined,
    async *samples(): AsyncGenerator<Feeds> {
      if (limit <= 0) return;
      let index = 0;
      for await (const value of await open()) {
        yield toFeeds(value, index);
        if (++index >= limit) return;
      }
    },
  };
}
