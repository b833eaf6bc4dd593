import { KilnError } from '../core/errors.js';
import { seededRandom } from '../core/random.js';
import type { HostTensor, HostTensorType } from './tensors.js';

/** One model input or output as the runtime sees it. */
export interface TensorSignature {
  readonly name: string;
  readonly type: HostTensorType;
  /** Numbers for fixed dims, names for symbolic ones (`batch`), undefined for unknown. */
  readonly shape: readonly (number | string | undefined)[];
}

/** How {@link makeFeeds} fills in and generates input tensors. */
export interface FeedOptions {
  /** Values for symbolic or unknown dims, by dim name; `'*'` applies to any not listed. */
  readonly dims?: Readonly<Record<string, number>>;
  /** Overrides the first dimension of every input (the batch axis). */
  readonly batch?: number;
  /** Full shapes for named inputs; they win over `dims` and `batch`. */
  readonly shapes?: Readonly<Record<string, readonly number[]>>;
  /** Seed of the generator. @defaultValue 1 */
  readonly seed?: number;
  /** Names the model in error messages (usually its path). */
  readonly label?: string;
}

function prefix(options: FeedOptions): string {
  return options.label ? `${options.label}: ` : '';
}

/** Resolves a signature's shape to concrete dims. */
export function concreteShape(input: TensorSignature, options: FeedOptions = {}): number[] {
  const explicit = options.shapes?.[input.name];
  if (explicit) {
    const fits =
      explicit.length === input.shape.length &&
      input.shape.every((dim, axis) => typeof dim !== 'number' || dim < 0 || dim === explicit[axis]);
    if (!fits) {
      throw new KilnError(
        'KILN_RUNTIME_INPUT_INVALID',
        `${prefix(options)}shape [${explicit.join(', ')}] does not fit input '${input.name}' of shape [${input.shape.map((dim) => dim ?? '?').join(', ')}]`,
        { details: { input: input.name } },
      );
    }
    return [...explicit];
  }
  return input.shape.map((dim, axis) => {
    if (axis === 0 && options.batch !== undefined) return options.batch;
    if (typeof dim === 'number' && dim >= 0) return dim;
    const named = typeof dim === 'string' ? options.dims?.[dim] : undefined;
    const value = named ?? options.dims?.['*'];
    if (value === undefined) {
      throw new KilnError(
        'KILN_RUNTIME_INPUT_INVALID',
        `${prefix(options)}input '${input.name}' has a dynamic dimension ${typeof dim === 'string' ? `'${dim}'` : `at axis ${axis}`}: give it a value (e.g. --dim ${typeof dim === 'string' ? dim : '*'}=1)`,
        { details: { input: input.name, axis } },
      );
    }
    return value;
  });
}

/**
 * Generates seeded input tensors for a model signature: floats uniform in [-1, 1), integers
 * in [0, 10), booleans 0/1. Good for round-trip equality and latency, not for accuracy.
 */
export function makeFeeds(inputs: readonly TensorSignature[], options: FeedOptions = {}): Record<string, HostTensor> {
  const random = seededRandom(options.seed ?? 1);
  const feeds: Record<string, HostTensor> = {};
  for (const input of inputs) {
    const dims = concreteShape(input, options);
    const count = dims.reduce((product, dim) => product * dim, 1);
    feeds[input.name] = { type: input.type, dims, data: fill(input, count, random) };
  }
  return feeds;
}

function fill(input: TensorSignature, count: number, random: () => number): HostTensor['data'] {
  switch (input.type) {
    case 'float32':
      return Float32Array.from({ length: count }, () => random() * 2 - 1);
    case 'float64':
      return Float64Array.from({ length: count }, () => random() * 2 - 1);
    case 'float16':
      // Uniform bits of finite halves in [-1, 1): exponent below 15.
      return Uint16Array.from({ length: count }, () => (random() < 0.5 ? 0x8000 : 0) | Math.floor(random() * 0x3c00));
    case 'int64':
      return BigInt64Array.from({ length: count }, () => BigInt(Math.floor(random() * 10)));
    case 'uint64':
      return BigUint64Array.from({ length: count }, () => BigInt(Math.floor(random() * 10)));
    case 'int32':
      return Int32Array.from({ length: count }, () => Math.floor(random() * 10));
    case 'uint32':
      return Uint32Array.from({ length: count }, () => Math.floor(random() * 10));
    case 'int16':
      return Int16Array.from({ length: count }, () => Math.floor(random() * 10));
    case 'uint16':
      return Uint16Array.from({ length: count }, () => Math.floor(random() * 10));
    case 'int8':
      return Int8Array.from({ length: count }, () => Math.floor(random() * 10));
    case 'uint8':
      return Uint8Array.from({ length: count }, () => Math.floor(random() * 10));
    case 'bool':
      return Uint8Array.from({ length: count }, () => (random() < 0.5 ? 1 : 0));
    case 'string':
      return Array.from({ length: count }, () => random().toString(36).slice(2, 8));
    default:
      throw new KilnError('KILN_RUNTIME_INPUT_INVALID', `input '${input.name}' has type ${input.type}, which kiln cannot generate`);
  }
}

/**
 * What is wrong with feeds for a signature, one phrase each (missing or unknown inputs, types,
 * ranks, fixed dims); empty when they fit. Callers add their own context to the message.
 */
export function feedProblems(inputs: readonly TensorSignature[], feeds: Readonly<Record<string, HostTensor>>): string[] {
  const problems: string[] = [];
  const shapeText = (shape: TensorSignature['shape']) => `[${shape.map((dim) => dim ?? '?').join(', ')}]`;
  for (const input of inputs) {
    const feed = feeds[input.name];
    if (!feed) {
      problems.push(`missing input '${input.name}'`);
      continue;
    }
    if (feed.type !== input.type) problems.push(`input '${input.name}' is ${feed.type}, the model wants ${input.type}`);
    if (input.shape.length > 0 && feed.dims.length !== input.shape.length) {
      problems.push(`input '${input.name}' has shape [${feed.dims.join(', ')}], the model wants rank ${input.shape.length} ${shapeText(input.shape)}`);
      continue;
    }
    input.shape.forEach((dim, axis) => {
      if (typeof dim === 'number' && feed.dims[axis] !== dim) problems.push(`input '${input.name}' has ${feed.dims[axis]} at axis ${axis}, the model wants ${dim}`);
    });
  }
  for (const name of Object.keys(feeds)) {
    if (!inputs.some((input) => input.name === name)) problems.push(`unknown input '${name}'`);
  }
  return problems;
}
