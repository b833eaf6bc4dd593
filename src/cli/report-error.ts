import { CommanderError } from 'commander';
import { describeError, KilnError, type ErrorCode } from '../core/errors.js';

/** Exit codes: 0 done, 1 the work failed, 2 the command line was wrong. */
export const EXIT = Object.freeze({ ok: 0, failed: 1, usage: 2 });

/** What a failed command prints (one line, then the cause's stack with `KILN_DEBUG`) and returns. */
export interface ErrorReport {
  readonly line: string;
  readonly debug: string | undefined;
  readonly exitCode: number;
}

/**
 * Turns any failure into the one stderr line `kiln: <what> [<CODE>]`. The stable code is always
 * there so that a user (or a script) can look it up in docs/errors.md; commander's parse errors
 * are `KILN_CLI_USAGE` and keep their "did you mean …?" on the same line.
 * @param command the subcommand the user typed, when known, for the `--help` hint.
 */
export function reportError(error: unknown, command: string | undefined, debug: boolean): ErrorReport {
  if (error instanceof CommanderError) {
    const [first = '', ...rest] = error.message.replace(/^error: /, '').split('\n');
    // commander puts its suggestion on a second line: "(Did you mean quantize?)".
    const suggestion = rest.map((line) => /^\(Did you mean (.+)\?\)$/.exec(line.trim())?.[1]).find(Boolean);
    const hint = suggestion ? `; did you mean ${suggestion}?` : '';
    return { line: `kiln: ${first}${hint} (see kiln ${command ? `${command} ` : ''}--help) [KILN_CLI_USAGE]`, debug: undefined, exitCode: EXIT.usage };
  }
  if (error instanceof KilnError) {
    // Wire messages such as "Prediction failed" are fixed; the reason travels in details.
    const reason = typeof error.details['reason'] === 'string' ? `: ${error.details['reason']}` : '';
    const cause = error.cause as Error | undefined;
    return {
      line: `kiln: ${error.message}${reason} [${error.code}]`,
      debug: debug ? String(cause?.stack ?? error.stack ?? '') : undefined,
      exitCode: error.code === 'KILN_CLI_USAGE' ? EXIT.usage : EXIT.failed,
    };
  }
  const internal: ErrorCode = 'KILN_CORE_INTERNAL';
  return { line: `kiln: internal error: ${describeError(error)} [${internal}]`, debug: debug ? String((error as Error).stack ?? '') : undefined, exitCode: EXIT.failed };
}
