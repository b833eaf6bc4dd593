import { fork, type ChildProcess, type ForkOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Forks a Node process on a module. A TypeScript entry (kiln run from its sources) gets tsx's
 * loader through `--import`; a JavaScript entry (kiln compiled to `dist/`) runs as it is.
 * The server's own `execArgv` is not inherited: a child gets only the flags asked for.
 * @example const child = forkModule(siblingModule('entry', import.meta.url), { execArgv: ['--max-old-space-size=512'] });
 */
export function forkModule(entry: URL, options: ForkOptions & { readonly execArgv?: readonly string[] } = {}): ChildProcess {
  const loader = entry.pathname.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : [];
  return fork(fileURLToPath(entry), [], { ...options, execArgv: [...loader, ...(options.execArgv ?? [])] });
}
