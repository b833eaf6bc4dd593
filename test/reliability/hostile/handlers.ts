/**
 * User handlers that misbehave: at import, in initialize, or when a request's body is
 * {@link ATTACK} (any other body gets 'ok', so a replaced worker can prove it serves again).
 * Kinds that can take a whole process down, hold memory or leave children behind require
 * process isolation: in a thread they would hit the test's own server.
 */
import { ATTACK, handlerMar, quickConfig, unique, type Expectation, type HostileKind, type Written } from './kind.js';


/** Shared by every source below: is this batch the attack? */
const PRELUDE = `const attacked = (requests) => requests.some((r) => {
  const b = r.body ?? r.data;
  return (typeof b === 'string' ? b : Buffer.from(b ?? []).toString('utf8')) === ${JSON.stringify(ATTACK)};
});
`;

/** A handler whose `handle` runs `attack` (JavaScript statements) on the attack body. */
const onAttack = (attack: string, after = "return requests.map(() => 'ok');") => `${PRELUDE}module.exports = {
  async initialize() {},
  async handle(requests) {
    if (attacked(requests)) { ${attack} }
    ${after}
  },
};`;

function kind(name: string, expect: Expectation, source: string | (() => { source: string; written?: Partial<Written> }), options: { config?: string; requires?: 'isolation'; todo?: string } = {}): HostileKind {
  return {
    name,
    group: 'handler',
    expect,
    ...(options.requires ? { requires: options.requires } : {}),
    ...(options.todo ? { todo: options.todo } : {}),
    write({ store }) {
      const built = typeof source === 'string' ? { source } : source();
      return { ...handlerMar(store, name, built.source, options.config), ...built.written };
    },
  };
}

const startFails = (cause: RegExp): Expectation => ({ outcome: 'start-fails', cause });
const fails = (worker: 'kept' | 'replaced'): Expectation => ({ outcome: 'serves', predict: 'error', worker });
const answers: Expectation = { outcome: 'serves', predict: 'ok', worker: 'kept' };
/** GNU sleep takes a fraction: its digits make the command line unique to one run. */
const sleepArgument = () => `600.${String(Math.random()).slice(2, 12)}`;
const hangTimeout = quickConfig().replace('startupTimeout: 10', 'startupTimeout: 2');

export const HANDLER_KINDS: readonly HostileKind[] = [
  kind('handler-throw-at-import', startFails(/hostile import failure/), `throw new Error('hostile import failure');`),
  kind('handler-syntax-error', startFails(/SyntaxError|Unexpected/), 'module.exports = { handle('),
  kind('handler-no-export', startFails(/exports no handler/), 'module.exports = 42;'),
  kind('handler-require-forbidden', startFails(/left-pad/), "require('left-pad');"),
  kind('handler-throw-in-initialize', startFails(/hostile initialize failure/), `module.exports = { async initialize() { throw new Error('hostile initialize failure'); }, async handle(r) { return r; } };`),
  kind('handler-hang-in-initialize', startFails(/2 s/), 'module.exports = { initialize: () => new Promise(() => {}), async handle(r) { return r; } };', { config: hangTimeout }),
  kind('handler-loop-at-import', startFails(/2 s/), 'for (;;) {}', { config: hangTimeout }),
  kind('handler-throw-in-handle', fails('kept'), onAttack("throw new Error('hostile handle failure');")),
  kind('handler-wrong-count', fails('kept'), onAttack("return [...requests.map(() => 'ok'), 'extra'];")),
  kind('handler-not-an-array', fails('kept'), onAttack("return 'not an array';")),
  kind('handler-unserializable', fails('kept'), onAttack('return requests.map(() => 10n);')),
  kind('handler-circular-output', fails('kept'), onAttack('const a = {}; a.a = a; return requests.map(() => a);')),
  // The issue: "the worker must never die from a rejected promise or a throw in handler code".
  kind('handler-unhandled-rejection', { outcome: 'serves', predict: 'ok', worker: 'kept' }, onAttack("Promise.reject(new Error('hostile unhandled rejection'));")),
  // An uncaught throw from a timer: the worker may die for it, but must be replaced and serve.
  kind('handler-throw-in-timer', { outcome: 'serves', predict: 'either', worker: 'either' }, onAttack("setTimeout(() => { throw new Error('hostile timer crash'); }, 10);")),
  kind('handler-process-exit', fails('replaced'), onAttack('process.exit(1);')),
  kind('handler-loop-forever', fails('replaced'), onAttack('for (;;) {}')),
  kind('handler-sigkill-self', fails('replaced'), onAttack("process.kill(process.pid, 'SIGKILL');"), { requires: 'isolation' }),
  kind(
    'handler-allocate-20g',
    fails('replaced'),
    // Guarded for the machine's sake: stops while 4 GiB are still free, and then answers, which
    // fails the test just the same (the watchdog should have killed it at 256 MiB).
    onAttack(`const held = [];
      for (let gib = 0; gib < 20 && require('node:os').freemem() > 4 * 1024 ** 3; gib++) held.push(Buffer.alloc(1024 ** 3, 1));
      return requests.map(() => 'survived ' + held.length + ' GiB');`),
    { requires: 'isolation', config: quickConfig('handler:', '  maxMemoryMiB: 256').replace('responseTimeout: 3', 'responseTimeout: 60') },
  ),
  kind(
    'handler-spawn-sleep',
    answers,
    () => {
      const marker = sleepArgument();
      return { source: onAttack(`require('node:child_process').spawn('sleep', ['${marker}'], { stdio: 'ignore' });`), written: { childMarker: marker } };
    },
    { requires: 'isolation' },
  ),
  kind(
    'handler-spawn-sleep-then-hang',
    fails('replaced'),
    () => {
      const marker = sleepArgument();
      return { source: onAttack(`require('node:child_process').spawn('sleep', ['${marker}'], { stdio: 'ignore' }); await new Promise(() => {});`), written: { childMarker: marker } };
    },
    { requires: 'isolation' },
  ),
  kind(
    'handler-spawn-detached-then-hang',
    fails('replaced'),
    () => {
      const marker = sleepArgument();
      const spawn = `require('node:child_process').spawn('sleep', ['${marker}'], { stdio: 'ignore', detached: true }).unref();`;
      return { source: onAttack(`${spawn} await new Promise(() => {});`), written: { childMarker: marker } };
    },
    // Found by this corpus on ba784fb (only the worker's process group was killed); the worker's
    // descendants are now tracked through /proc and killed with it.
    { requires: 'isolation' },
  ),
  kind('handler-write-outside', answers, () => {
    // Always /tmp, whatever TMPDIR the test gives the server.
    const escapeFile = `/tmp/kiln-escape-${unique()}`;
    return { source: onAttack(`require('node:fs').writeFileSync('${escapeFile}', 'written by a handler');`), written: { escapeFile } };
  }),
  kind('handler-read-outside', answers, onAttack("if (!require('node:fs').readFileSync('/etc/passwd', 'utf8').includes('root')) throw new Error('unreadable');")),
];
