/**
 * model-config.yaml lies: YAML that expands, nests or constructs, wrong types, and numbers out
 * of range. All must be refused at registration, never turned into threads, timers or queues.
 */
import { ECHO_HANDLER, manifest, writeMar, type HostileKind } from './kind.js';

function config(name: string, yaml: string, extra: Partial<HostileKind> = {}): HostileKind {
  return {
    name,
    group: 'config',
    expect: { outcome: 'refused' },
    ...extra,
    write: ({ store }) =>
      writeMar(store, name, [
        { name: 'MAR-INF/MANIFEST.json', data: manifest(name, { configFile: 'model-config.yaml' }) },
        { name: 'handler.cjs', data: ECHO_HANDLER },
        { name: 'model-config.yaml', data: yaml },
      ]),
  };
}

/** Nine levels of nine aliases each: 9^9 nodes if expanded. */
const BILLION_LAUGHS = ['a0: &a0 [lol]', ...Array.from({ length: 9 }, (_, i) => `a${i + 1}: &a${i + 1} [${Array(9).fill(`*a${i}`).join(', ')}]`), ''].join('\n');

export const CONFIG_KINDS: readonly HostileKind[] = [
  config('yaml-billion-laughs', BILLION_LAUGHS),
  config('yaml-deep-nesting', `handler: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`),
  config('yaml-custom-tag', "handler: !!js/function 'function () { return 1 }'\n"),
  config('yaml-not-mapping', '- minWorkers\n- 1\n'),
  config('yaml-syntax-error', 'batchSize: [1, 2\nminWorkers: {\n'),
  config('yaml-duplicate-key', 'batchSize: 1\nbatchSize: 2\n'),
  config('yaml-null-timeout', 'responseTimeout: null\n'),
  config('yaml-wrong-type', 'batchSize: eight\n'),
  config('yaml-negative-workers', 'minWorkers: -1\n'),
  config('yaml-fraction', 'batchSize: 2.5\n'),
  config('yaml-min-over-max', 'minWorkers: 4\nmaxWorkers: 2\n'),
  config('yaml-batch-size-1e8', 'batchSize: 1e8\n'),
  config('yaml-max-batch-delay-3e9', 'maxBatchDelay: 3e9\n'),
  config('yaml-job-queue-1e15', 'jobQueueSize: 1e15\n'),
  config('yaml-response-timeout-1e12', 'responseTimeout: 1e12\n'),
  // Unbounded (as before 9f3372e), this starts 300 workers (7.6 GB): run only where bounds are in.
  config('yaml-min-workers-300', 'minWorkers: 300\nmaxWorkers: 300\n', { requires: 'bounds' }),
];
