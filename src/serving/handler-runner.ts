/**
 * The far side of a handler host, shared by the worker-thread and worker-process entries: loads
 * the archive's handler, then runs each batch it is sent through the contract checks and answers
 * with one outcome per request.
 */
import { createLogger, type Logger } from '../core/log.js';
import { initializeArchiveHandler } from '../handlers/from-archive.js';
import { runBatch } from '../handlers/run.js';
import type { ResponseSettings } from '../handlers/types.js';
import { serializeError, toWire, type BatchMessage, type HostCommand, type HostData, type HostMessage } from './host-protocol.js';

/** How the far side talks to the server. */
export interface ServerLink {
  send(message: HostMessage): void;
  onCommand(listener: (command: HostCommand) => void): void;
  /** Ends this thread or process once the handler has closed. */
  exit(code: number): void;
}

/** A logger for handler code running away from the server's logger. */
export function hostLogger(data: HostData): Logger {
  return createLogger({ level: data.logLevel, base: { component: 'handler-host', model: data.modelName } });
}

/**
 * A promise that a handler rejects and never awaits (a `Promise.all` left behind by a throw)
 * must not end the thread or process that serves the model's other requests: it is logged.
 */
export function keepUnhandledRejections(logger: Logger): void {
  process.on('unhandledRejection', (reason) => logger.warn({ err: reason }, 'handler left a promise rejection unhandled'));
}

export async function serveHandler(link: ServerLink, data: HostData, logger: Logger): Promise<void> {
  let ready;
  try {
    ready = await initializeArchiveHandler(
      { ...data.archive, remove: async () => undefined },
      { logger, batchSize: data.batchSize, modelName: data.modelName },
    );
  } catch (error) {
    link.send({ type: 'init-error', error: serializeError(error) });
    return;
  }
  const { handler, model } = ready;
  // The host may hand over the next batch before this one is answered. Handlers are not
  // reentrant, so batches run one after another in the order they came; one not yet started can
  // be recalled (the worker is stopping) and goes back to the server's queue.
  const waiting: BatchMessage[] = [];
  let running = false;
  let closing = false;
  const close = () =>
    void Promise.resolve(handler.close?.())
      .catch((error: unknown) => logger.warn({ err: error }, 'handler close failed'))
      .finally(() => link.exit(0));
  const runOne = async (message: BatchMessage) => {
    // Callbacks cannot cross threads: intermediate results travel back as messages.
    const requests = message.requests.map((request, index) => ({
      ...request,
      onIntermediate: (body: Uint8Array, settings: ResponseSettings) => link.send({ type: 'chunk', id: message.id, index, body, settings }),
    }));
    const started = performance.now();
    try {
      const outcomes = await runBatch(handler, model, requests);
      link.send({ type: 'result', id: message.id, outcomes: toWire(outcomes), handlerMs: performance.now() - started });
    } catch (error) {
      link.send({ type: 'error', id: message.id, error: serializeError(error) });
    }
  };
  const runWaiting = async () => {
    if (running) return;
    running = true;
    for (let message = waiting.shift(); message; message = waiting.shift()) {
      // Only a failed send lands here; the host's responseTimeout then replaces this worker.
      await runOne(message).catch((error: unknown) => logger.error({ err: error }, 'could not send a batch result'));
    }
    running = false;
    if (closing) close();
  };
  link.onCommand((command) => {
    if (command.type === 'close') {
      closing = true;
      if (!running) close();
    } else if (command.type === 'recall') {
      // The inputs go back too: their bytes may have been moved here, not copied.
      for (const recalled of waiting.splice(0)) link.send({ type: 'recalled', id: recalled.id, inputs: recalled.requests.map((request) => request.input) });
    } else if (command.type === 'batch') {
      waiting.push(command);
      void runWaiting();
    }
  });
  link.send({ type: 'ready' });
}
