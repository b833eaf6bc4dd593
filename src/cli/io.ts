/** Where a command writes. Injected so tests and the demo can capture output. */
export interface CliIO {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** True when stderr is a terminal (progress bars only draw there). */
  readonly interactive: boolean;
}

/** The process's own stdout and stderr. */
export function processIO(): CliIO {
  return {
    out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
    interactive: Boolean(process.stderr.isTTY),
  };
}
