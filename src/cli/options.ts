import { KilnError } from '../core/errors.js';

function usage(message: string): KilnError {
  return new KilnError('KILN_CLI_USAGE', message);
}

/** Parses a positive whole number flag value. */
export function parsePositiveInt(flag: string, text: string, { allowZero = false } = {}): number {
  if (!/^\d+$/.test(text) || (!allowZero && Number(text) === 0)) {
    throw usage(`${flag} must be a ${allowZero ? 'non-negative' : 'positive'} whole number, got '${text}'`);
  }
  return Number(text);
}

/** Parses `1,8,32` into numbers. */
export function parseIntList(flag: string, text: string, options: { allowZero?: boolean } = {}): number[] {
  const parts = text.split(',').map((part) => part.trim());
  if (parts.some((part) => part === '')) throw usage(`${flag} must be a comma-separated list of whole numbers, got '${text}'`);
  return parts.map((part) => parsePositiveInt(flag, part, options));
}

/** Collects repeated `NAME=N` flags (`--dim batch=4`). */
export function collectDim(text: string, previous: Record<string, number> = {}): Record<string, number> {
  const match = /^([^=]+)=(\d+)$/.exec(text);
  if (!match || Number(match[2]) === 0) throw usage(`--dim takes NAME=N with N a positive whole number, got '${text}'`);
  return { ...previous, [match[1]!]: Number(match[2]) };
}

/** Collects repeated `INPUT=d0,d1,…` flags (`--shape x=1,3,48,192`). */
export function collectShape(text: string, previous: Record<string, number[]> = {}): Record<string, number[]> {
  const match = /^([^=]+)=([\d,]+)$/.exec(text);
  if (!match) throw usage(`--shape takes INPUT=d0,d1,... (e.g. x=1,3,224,224), got '${text}'`);
  return { ...previous, [match[1]!]: parseIntList('--shape', match[2]!) };
}

/** Collects repeated `--header 'Name: value'`. */
export function collectHeader(text: string, previous: Record<string, string> = {}): Record<string, string> {
  const match = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):\s*(.*)$/.exec(text);
  if (!match) throw usage(`--header takes 'Name: value', got '${text}'`);
  return { ...previous, [match[1]!]: match[2]!.trim() };
}

/** Collects repeated `--input PATH`. */
export function collectInput(text: string, previous: string[] = []): string[] {
  return [...previous, text];
}
