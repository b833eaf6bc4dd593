/** A handler thread's main module (see thread-host.ts): the shared handler runner over a MessagePort. */
import { parentPort } from 'node:worker_threads';
import { threadWorkerData } from '../core/ts-thread.js';
import type { HostCommand, HostData, HostMessage } from './host-protocol.js';
import { hostLogger, keepUnhandledRejections, serveHandler } from './handler-runner.js';

// A spare thread (core/ts-thread.ts prestartThread) gets its data when it is taken into use.
const data = await threadWorkerData<HostData>();
const port = parentPort!;
const logger = hostLogger(data);
keepUnhandledRejections(logger);
await serveHandler(
  {
    send: (message: HostMessage) => port.postMessage(message),
    onCommand: (listener) => port.on('message', (command: HostCommand) => listener(command)),
    exit: (code) => process.exit(code),
  },
  data,
  logger,
);
