import type { z } from 'zod';
import type { KilnError } from './errors.js';

/** Options of {@link describeIssue}. */
export interface DescribeIssueOptions {
  /** Where the parsed value sits in a larger document: its path is put in front. */
  readonly within?: string;
  /** What to call the value itself when the problem has no path. @defaultValue 'the document' */
  readonly root?: string;
}

/**
 * The first problem of a failed parse, as kiln words it everywhere: `path.to.key: message`, or
 * `<root>: message` when the problem is the whole value.
 * @example describeIssue(error) // 'handler.image.size: expected array, received string'
 */
export function describeIssue(error: z.ZodError, options: DescribeIssueOptions = {}): string {
  const issue = error.issues[0]!;
  const path = [options.within ?? '', ...issue.path.map(String)].filter((part) => part !== '');
  return `${path.length > 0 ? path.join('.') : (options.root ?? 'the document')}: ${issue.message}`;
}

/** Every problem of a failed parse as `{path, message}`, for an error's details. */
export function issueList(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }));
}

/**
 * Parses `value`, or throws the KilnError that `fail` builds from the first problem's
 * description (see {@link describeIssue}): one zod-issue → KilnError rule for every edge.
 * @example const config = parseOrThrow(ConfigSchema, yaml, (reason) => new KilnError('KILN_HANDLER_LOAD_FAILED', `ocr: handler config: ${reason}`));
 */
export function parseOrThrow<Schema extends z.ZodType>(schema: Schema, value: unknown, fail: (reason: string, error: z.ZodError) => KilnError): z.output<Schema> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw fail(describeIssue(parsed.error), parsed.error);
  return parsed.data;
}
