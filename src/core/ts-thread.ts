import { parentPort, Worker, workerData, type WorkerOptions } from 'node:worker_threads';

/**
 * The URL of a module beside the calling one, in the caller's own form: `name.ts` when kiln runs
 * from its TypeScript sources (tests, the repository's tsx-run CLI), `name.js` when it runs
 * compiled from `dist/` (an installed package, which has no `.ts` files and no tsx).
 * @example const entry = siblingModule('thread-entry', import.meta.url);
 */
export function siblingModule(name: string, callerUrl: string): URL {
  return new URL(`./${name}${callerUrl.endsWith('.ts') ? '.ts' : '.js'}`, callerUrl);
}

/** The workerData key that marks a spare thread (see {@link prestartThread}). */
const SPARE = 'kiln:spare-thread';

interface SpareThread {
  readonly thread: Worker;
  readonly preload: readonly URL[];
}

/** Spare threads by entry URL: at most one each, started ahead of need. */
const spares = new Map<string, SpareThread>();

/**
 * Starts a worker thread on a module. A compiled (`.js`) entry starts as it is. A TypeScript
 * entry (kiln run from its sources) needs tsx's loader, and a worker thread does not inherit the
 * loader of the thread that starts it, so an eval'd bootstrap registers tsx's hooks inside the
 * thread before the entry loads; tsx is then a development dependency, never needed installed.
 * When a spare thread of the same entry is waiting ({@link prestartThread}) and only `workerData`
 * is given, that thread is handed the data and returned instead: it has already started and
 * loaded its modules.
 * @example const thread = startTypeScriptThread(siblingModule('entry', import.meta.url), { workerData });
 */
export function startTypeScriptThread(entry: URL, options: Omit<WorkerOptions, 'eval'> = {}): Worker {
  const spare = spares.get(entry.href);
  if (spare && Object.keys(options).every((key) => key === 'workerData')) {
    spares.delete(entry.href);
    spare.thread.ref();
    spare.thread.postMessage({ [SPARE]: options.workerData });
    return spare.thread;
  }
  return spawnThread(entry, options);
}

function spawnThread(entry: URL, options: Omit<WorkerOptions, 'eval'>): Worker {
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

/**
 * Starts a spare thread on `entry` unless one waits already: it starts Node, loads the entry's
 * modules and `preload` (onnxruntime, sharp, a handler's code), then waits, off the event loop's
 * books (it does not keep the process alive), until {@link startTypeScriptThread} hands it its
 * workerData. The entry reads that data with {@link threadWorkerData}. What a thread costs to
 * start is then paid before a model is registered rather than during its registration.
 */
export function prestartThread(entry: URL, preload: readonly URL[] = []): void {
  if (spares.has(entry.href)) return;
  const thread = spawnThread(entry, { workerData: { [SPARE]: preload.map((url) => url.href) } });
  thread.unref();
  const forget = () => {
    if (spares.get(entry.href)?.thread === thread) spares.delete(entry.href);
  };
  thread.once('exit', forget);
  // A spare that fails to start is forgotten; the thread that replaces it reports its own errors.
  thread.once('error', forget);
  spares.set(entry.href, { thread, preload });
}

/** Ends the spare threads no one has taken (a server stopping). */
export async function stopSpareThreads(): Promise<void> {
  const waiting = [...spares.values()];
  spares.clear();
  await Promise.all(waiting.map(({ thread }) => thread.terminate()));
}

/**
 * In a thread's entry module, its workerData: as given at the start, or, in a spare thread, as
 * soon as the thread is taken into use. A spare loads its preloads one at a time, in the order
 * given, and starts none once taken: the code that took it then imports what it needs (sharing
 * a load in progress) without the others competing for the thread. A preload may export
 * `warmUpSpareThread()`, which the spare runs once it has loaded it, before the next (onnxruntime's
 * warm-up session, runtime/warm-up.ts). A preload that fails is left for the code that needs it
 * to report.
 */
export async function threadWorkerData<T>(): Promise<T> {
  const preload = (workerData as Record<string, unknown> | null)?.[SPARE];
  if (!Array.isArray(preload)) return workerData as T;
  let isTaken = false;
  const taken = new Promise<T>((resolve) =>
    parentPort!.once('message', (message: Record<string, T>) => {
      isTaken = true;
      resolve(message[SPARE]!);
    }),
  );
  void (async () => {
    for (const url of preload as string[]) {
      if (isTaken) return;
      const loaded = (await import(url).catch(() => undefined)) as { warmUpSpareThread?: () => Promise<void> } | undefined;
      await loaded?.warmUpSpareThread?.().catch(() => undefined);
    }
  })();
  return taken;
}
