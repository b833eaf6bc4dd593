/**
 * Java `.properties` text, the format of TorchServe's config.properties and of its snapshot
 * files. The rules follow `java.util.Properties.load(Reader)`, so a file TorchServe reads means
 * the same to kiln, and {@link formatProperties} escapes like `Properties.store` so Java reads
 * kiln's files back unchanged.
 */
import { KilnError } from './errors.js';

/** Space, tab and form feed: the only whitespace the format knows (a newline ends a line). */
const WHITESPACE = new Set([' ', '\t', '\f']);

const ESCAPED: Readonly<Record<string, string>> = { t: '\t', n: '\n', r: '\r', f: '\f' };

/** True when `line` ends in an odd number of backslashes, i.e. the last one is not escaped. */
function endsWithContinuation(line: string): boolean {
  let count = 0;
  for (let i = line.length - 1; i >= 0 && line[i] === '\\'; i--) count++;
  return count % 2 === 1;
}

function skipWhitespace(text: string, from: number): number {
  let i = from;
  while (i < text.length && WHITESPACE.has(text[i]!)) i++;
  return i;
}

/**
 * Joins natural lines into logical ones: blank and comment lines dropped, continuations
 * joined with their leading whitespace removed. A comment line is never continued (Java's
 * rule), but a continuation line that starts with `#` is value text.
 */
function logicalLines(text: string): Array<{ line: string; lineNumber: number }> {
  const natural = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  const out: Array<{ line: string; lineNumber: number }> = [];
  for (let i = 0; i < natural.length; i++) {
    const lineNumber = i + 1;
    let line = natural[i]!.slice(skipWhitespace(natural[i]!, 0));
    if (line === '' || line[0] === '#' || line[0] === '!') continue;
    while (endsWithContinuation(line)) {
      line = line.slice(0, -1);
      // A trailing backslash on the last line of the file is dropped, as Java does.
      if (i + 1 >= natural.length) break;
      i++;
      line += natural[i]!.slice(skipWhitespace(natural[i]!, 0));
    }
    out.push({ line, lineNumber });
  }
  return out;
}

/** Decodes the escapes of one key or value: \t \n \r \f, \uXXXX, and `\x` → `x` for any other x. */
function unescape(raw: string, lineNumber: number): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = raw[++i];
    if (next === undefined) break;
    if (next === 'u') {
      const hex = raw.slice(i + 1, i + 5);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
        throw new KilnError('KILN_SERVE_CONFIG_INVALID', `line ${lineNumber}: malformed \\uXXXX escape "\\u${hex}"`, {
          details: { line: lineNumber },
        });
      }
      out += String.fromCharCode(Number.parseInt(hex, 16));
      i += 4;
    } else {
      out += ESCAPED[next] ?? next;
    }
  }
  return out;
}

/** Splits a logical line into its raw (still escaped) key and value. */
function splitEntry(line: string): [string, string] {
  let keyEnd = 0;
  let escaped = false;
  let separator = false;
  for (; keyEnd < line.length; keyEnd++) {
    const c = line[keyEnd]!;
    if (!escaped && (c === '=' || c === ':' || WHITESPACE.has(c))) {
      separator = c === '=' || c === ':';
      break;
    }
    escaped = c === '\\' ? !escaped : false;
  }
  // After the key: whitespace, at most one '=' or ':' (if none ended the key), whitespace.
  let valueStart = skipWhitespace(line, keyEnd + 1);
  if (!separator && (line[valueStart] === '=' || line[valueStart] === ':')) {
    valueStart = skipWhitespace(line, valueStart + 1);
  }
  return [line.slice(0, keyEnd), line.slice(Math.min(valueStart, line.length))];
}

/**
 * Parses Java `.properties` text: `key=value`, `key: value` or `key value`; `#` and `!`
 * comment lines; leading whitespace ignored; a line ending in an odd number of backslashes
 * continues on the next; escapes `\t \n \r \f \\ \uXXXX` and `\x` for any other `x`
 * (`\=`, `\:`, `\ `). Trailing whitespace of a value is kept; a later key overrides an
 * earlier one. `\r\n`, `\r` and `\n` all end a line.
 * @throws KilnError `KILN_SERVE_CONFIG_INVALID` on a malformed `\uXXXX` escape.
 * @example parseProperties('a = 1\nb: x\\\n   y\n').get('b') // 'xy'
 */
export function parseProperties(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const { line, lineNumber } of logicalLines(text)) {
    const [rawKey, rawValue] = splitEntry(line);
    const key = unescape(rawKey, lineNumber);
    // Delete first so that an overridden key moves to where its last value was written.
    entries.delete(key);
    entries.set(key, unescape(rawValue, lineNumber));
  }
  return entries;
}

/** Escapes one key or value as `Properties.store` does, ASCII-only so any reader sees the same text. */
function escape(text: string, isKey: boolean): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const code = text.charCodeAt(i);
    if (c === ' ') out += isKey || i === 0 ? '\\ ' : ' ';
    else if (c === '\\' || c === '=' || c === ':' || c === '#' || c === '!') out += `\\${c}`;
    else if (c === '\t') out += '\\t';
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c === '\f') out += '\\f';
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`;
    else out += c;
  }
  return out;
}

/**
 * Writes entries as `.properties` text, one `key=value` line each, ending in `\n`. Keys and
 * values are escaped so that {@link parseProperties} (and Java) read back exactly the same
 * strings: separators and comment marks, backslashes, control characters, a value's leading
 * space, and every non-ASCII character (as `\uXXXX`, so the file is pure ASCII).
 * @example formatProperties([['model_store', '/srv/models']]) // 'model_store=/srv/models\n'
 */
export function formatProperties(entries: Iterable<readonly [string, string]>): string {
  let out = '';
  for (const [key, value] of entries) out += `${escape(key, true)}=${escape(value, false)}\n`;
  return out;
}
