import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * The URL of a module beside the calling one, in the caller's own form: `name.ts` when kiln runs
 * from its TypeScript sources (tests, the repository's tsx-run CLI), `name.js` when it runs
 * compiled from `dist/` (an installed package, which has no `.ts` files and no tsx).
 * @example const entry = siblingModule('thread-entry', import.meta.url);
 */
export function siblingModule(name: string, callerUrl: string): URL {
  return new URL(`./${name}${callerUrl.endsWith('.ts') ? '.ts' : '.js'}`, callerUrl);
}

/**
 * Starts a worker thread on a module. A compiled (`.js`) entry starts as it is. A TypeScript
 * entry (kiln run from its sources) needs tsx's loader, and a worker thread does not inherit the
 * loader of the thread that starts it, so an eval'd bootstrap registers tsx's hooks inside the
 * thread before the entry loads; tsx is then a development dependency, never needed installed.
 * @example const thread = startTypeScriptThread(siblingModule('entry', import.meta.url), { workerData });
 */
export function startTypeScriptThread(entry: URL, options: Omit<WorkerOptions, 'eval'> = {}): Worker {
  if (!entry.pathname.endsWith('.ts')) {
    // A thread inherits the process's flags, but `--input-type` (a `node -e` program that
    // started kiln) is refused for a file entry: leave it out.
    const execArgv = options.execArgv ?? process.execArgv.filter((flag) => !flag.startsWith('--input-type'));
    return new Worker(entry, { ...options, execArgv });
  }
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(bootstrap, { ...options, eval: true });
}
