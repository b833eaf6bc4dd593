/**
 * A handler process's main module (see process-host.ts): the shared handler runner over IPC.
 * The process leads its own process group, so whatever the handler spawns dies with it; and it
 * must not outlive the server even when the handler never yields: the IPC channel closing ends
 * it, and so does a watch thread that sees the server gone while the main thread is busy.
 */
import { Worker } from 'node:worker_threads';
import type { HostCommand, HostMessage } from './host-protocol.js';
import { hostLogger, keepUnhandledRejections, serveHandler } from './handler-runner.js';

function endGroup(): never {
  try {
    process.kill(-process.pid, 'SIGKILL');
  } catch {
    // Not a group leader (started by hand): end this process alone.
  }
  process.exit(1);
}

const server = process.ppid;
// A thread has its own event loop, so this check runs even while a handler loops forever.
const watch = new Worker(
  `const { workerData } = require('node:worker_threads');
   setInterval(() => { if (process.ppid !== workerData.server) { try { process.kill(-workerData.group, 'SIGKILL'); } catch { process.kill(workerData.group, 'SIGKILL'); } } }, 500);`,
  { eval: true, workerData: { server, group: process.pid } },
);
watch.unref();
process.on('disconnect', endGroup);

process.once('message', (first: HostCommand) => {
  if (first.type !== 'init') endGroup();
  const logger = hostLogger(first.data);
  keepUnhandledRejections(logger);
  const send = (message: HostMessage) => {
    try {
      process.send!(message);
    } catch {
      endGroup();
    }
  };
  void serveHandler(
    {
      send,
      onCommand: (listener) => process.on('message', (command: HostCommand) => listener(command)),
      exit: (code) => process.exit(code),
    },
    first.data,
    logger,
  );
});
