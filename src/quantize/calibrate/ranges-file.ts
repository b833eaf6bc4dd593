/**
 * Saved calibration ranges, so a quantization can be replayed without the data (`--ranges`):
 *
 * ```json
 * {
 *   "format": "kiln-ranges",
 *   "version": 1,
 *   "method": "mse",
 *   "tensors": {
 *     "conv1_out": [-1.25, 3.5]
 *   }
 * }
 * ```
 * Tensors are written sorted by name (code-unit order) with one per line, so the same ranges give
 * the same bytes whatever order they were observed in and diffs stay readable. Numbers are
 * JavaScript's shortest round-trip form, so loading gives back the exact float64 values.
 */
import { z } from 'zod';
import { KilnError } from '../../core/errors.js';
import { readFileChecked, writeFileAtomic } from '../../core/fs.js';
import type { CalibrationMethod, TensorRange } from './types.js';

/** The `format` tag of a ranges file. */
export const RANGES_FORMAT = 'kiln-ranges';
/** The version this code writes and reads. */
export const RANGES_VERSION = 1;

/** The content of a ranges file. */
export interface SavedRanges {
  readonly method: CalibrationMethod;
  /** Ranges by tensor name, sorted by name. */
  readonly tensors: ReadonlyMap<string, TensorRange>;
}

const RangeSchema = z
  .tuple([z.number(), z.number()], { error: 'expected [min, max] with two finite numbers' })
  .refine(([min, max]) => min <= max, { error: 'min is above max' });

const RangesSchema = z.strictObject({
  format: z.literal(RANGES_FORMAT, { error: `expected "${RANGES_FORMAT}"` }),
  version: z.literal(RANGES_VERSION, { error: `expected ${RANGES_VERSION} (the only version kiln reads)` }),
  method: z.enum(['minmax', 'percentile', 'entropy', 'mse'], { error: 'expected one of minmax, percentile, entropy, mse' }),
  tensors: z.record(z.string(), RangeSchema),
});

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The file text for a set of ranges (sorted by tensor name, trailing newline). */
export function formatRanges(method: CalibrationMethod, ranges: ReadonlyMap<string, TensorRange>): string {
  const names = [...ranges.keys()].sort(byName);
  const lines = names.map((name) => {
    const { min, max } = ranges.get(name)!;
    if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) {
      throw new KilnError('KILN_QUANTIZE_RANGES_INVALID', `cannot save range [${min}, ${max}] of tensor '${name}': not a finite [min, max]`, {
        details: { tensor: name },
      });
    }
    return `    ${JSON.stringify(name)}: [${JSON.stringify(min)}, ${JSON.stringify(max)}]`;
  });
  const tensors = lines.length === 0 ? '{}' : `{\n${lines.join(',\n')}\n  }`;
  return `{\n  "format": "${RANGES_FORMAT}",\n  "version": ${RANGES_VERSION},\n  "method": ${JSON.stringify(method)},\n  "tensors": ${tensors}\n}\n`;
}

/**
 * Writes ranges atomically (readers never see half a file).
 * @throws KilnError `KILN_IO_WRITE_FAILED`, or `KILN_QUANTIZE_RANGES_INVALID` for a non-finite range.
 */
export function saveRanges(path: string, method: CalibrationMethod, ranges: ReadonlyMap<string, TensorRange>): void {
  writeFileAtomic(path, [Buffer.from(formatRanges(method, ranges), 'utf8')]);
}

function describePath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return 'the top level';
  return path.map((key, index) => (index === 0 ? String(key) : typeof key === 'number' ? `[${key}]` : `[${JSON.stringify(key)}]`)).join('');
}

/**
 * Parses and checks the text of a ranges file; `file` names it in messages.
 * @throws KilnError `KILN_QUANTIZE_RANGES_INVALID` saying which field is wrong and why.
 */
export function parseRanges(text: string, file: string): SavedRanges {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new KilnError('KILN_QUANTIZE_RANGES_INVALID', `${file}: not a kiln ranges file (invalid JSON: ${(error as Error).message})`, {
      cause: error,
      details: { file },
    });
  }
  const parsed = RangesSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const more = parsed.error.issues.length > 1 ? ` (and ${parsed.error.issues.length - 1} more problems)` : '';
    throw new KilnError('KILN_QUANTIZE_RANGES_INVALID', `${file}: ${describePath(issue.path)}: ${issue.message}${more}`, {
      details: { file, path: issue.path.map(String) },
    });
  }
  // JSON.parse puts integer-like keys first, so sort again for a stable order.
  const entries = Object.entries(parsed.data.tensors).sort(([a], [b]) => byName(a, b));
  return { method: parsed.data.method, tensors: new Map(entries.map(([name, [min, max]]) => [name, { min, max }])) };
}

/**
 * Reads a ranges file written by {@link saveRanges}.
 * @throws KilnError `KILN_IO_NOT_FOUND` / `KILN_IO_READ_FAILED`, or `KILN_QUANTIZE_RANGES_INVALID`.
 */
export function loadRanges(path: string): SavedRanges {
  return parseRanges(readFileChecked(path, 'the ranges file').toString('utf8'), path);
}
