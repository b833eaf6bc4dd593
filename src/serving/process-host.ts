import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { KilnError } from '../core/errors.js';
import { forkModule } from '../core/ts-process.js';
import { siblingModule } from '../core/ts-thread.js';
import type { HostInit } from './handler-host.js';
import type { HostMessage } from './host-protocol.js';
import { descendantsOf, killIdentified, type ProcessIdentity } from './process-tree.js';
import { RemoteHost, type ChannelOpener } from './remote-host.js';

/** How a worker process is bounded. */
export interface ProcessLimits {
  /** Resident memory past which the process is killed (and its V8 heap ceiling), in MiB. */
  readonly maxMemoryMiB: number;
}

/** How often the memory watchdog reads the process's resident size. */
const WATCHDOG_INTERVAL_MS = 100;
/** How often the processes the handler started are listed (a pass over /proc), in watchdog ticks. */
const TREE_EVERY_TICKS = 10;

/**
 * The handler in a process of its own (TorchServe's model: one process per worker): whatever
 * its code does — `process.exit`, `process.kill(process.pid)`, a native allocation, a child
 * process, a loop that never yields — costs only this worker, which is replaced. Requests and
 * responses cross as structured clones over IPC (bytes stay bytes). The process leads its own
 * process group, and the group is killed on timeout, unregister, memory overrun and after any
 * exit, so nothing the handler spawned outlives it; so is every process seen descending from it
 * (listed every second and at the kill), which catches children that left the group
 * (`detached: true`, `setsid`).
 */
export class ProcessHost extends RemoteHost {
  constructor(init: HostInit, limits: ProcessLimits) {
    super(init, openProcess(init, limits));
  }
}

function openProcess(init: HostInit, limits: ProcessLimits): ChannelOpener {
  return (data, events) => {
    const child = forkModule(siblingModule('process-entry', import.meta.url), {
      execArgv: [`--max-old-space-size=${limits.maxMemoryMiB}`],
      serialization: 'advanced',
      detached: true,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const pid = child.pid ?? -1;
    let killedFor: string | undefined;
    let markExited: () => void = () => undefined;
    const exited = new Promise<void>((resolve) => (markExited = resolve));
    /** Every process seen descending from the worker: once it dies, its orphans cannot be found. */
    const offspring = new Map<number, ProcessIdentity>();
    const listOffspring = () => {
      for (const found of descendantsOf(pid)) offspring.set(found.pid, found);
    };
    const killAll = () => {
      listOffspring();
      killGroup(child);
      killIdentified(offspring.values());
    };
    let ticks = 0;
    const watchdog = setInterval(() => {
      if (++ticks % TREE_EVERY_TICKS === 0) listOffspring();
      const rss = residentBytes(pid);
      if (rss === undefined || rss <= limits.maxMemoryMiB * 2 ** 20) return;
      killedFor = `its resident memory (${Math.round(rss / 2 ** 20)} MiB) passed the limit of ${limits.maxMemoryMiB} MiB`;
      init.logger.error({ pid, rssMiB: Math.round(rss / 2 ** 20), maxMemoryMiB: limits.maxMemoryMiB }, 'worker process over its memory limit; killing it');
      killAll();
    }, WATCHDOG_INTERVAL_MS);
    watchdog.unref();
    child.on('message', (message: HostMessage) => events.message(message));
    let ended = false;
    const end = (error: KilnError) => {
      if (ended) return;
      ended = true;
      clearInterval(watchdog);
      // The group outlives its leader while anything the handler started still runs.
      killGroup(child);
      killIdentified(offspring.values());
      markExited();
      events.exit(error);
    };
    child.on('error', (error) => {
      init.logger.error({ err: error, pid }, 'worker process error');
      // A process that could not be started (EAGAIN, ENOMEM) never emits 'exit'.
      if (child.pid === undefined) {
        end(new KilnError('KILN_SERVE_WORKER_DIED', 'Worker died.', { cause: error, details: { reason: `the worker process could not be started: ${error.message}` } }));
      }
    });
    child.once('exit', (code, signal) => {
      const reason = killedFor ?? (signal ? `killed by ${signal}` : `exited with code ${code}`);
      end(new KilnError('KILN_SERVE_WORKER_DIED', 'Worker died.', { details: { pid, exitCode: code, signal, reason } }));
    });
    if (child.connected) child.send({ type: 'init', data });
    return {
      pid,
      send: (command) => {
        // Closing: list what the handler started now, since its orphans cannot be found later.
        if (command.type === 'close') listOffspring();
        // A process that is gone reports its exit; what was sent to it fails there.
        if (child.connected) child.send(command, (error) => error && init.logger.warn({ err: error, pid }, 'could not send to the worker process'));
      },
      rss: () => residentBytes(pid),
      kill: async () => {
        killAll();
        await exited;
      },
    };
  };
}

/** SIGKILL to the child's whole process group (it leads one: `detached`). */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // The group is gone already.
  }
}

/** A process's resident set size in bytes (Linux: /proc); undefined where it cannot be read. */
export function residentBytes(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
