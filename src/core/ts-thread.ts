import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread on a TypeScript module. kiln ships TypeScript run through tsx's loader,
 * and a worker thread does not inherit the loader of the thread that starts it, so an eval'd
 * bootstrap registers tsx's hooks inside the thread before the entry loads.
 * @example const thread = startTypeScriptThread(new URL('./entry.ts', import.meta.url), { workerData });
 */
export function startTypeScriptThread(entry: URL, options: Omit<WorkerOptions, 'eval'> = {}): Worker {
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(bootstrap, { ...options, eval: true });
}
