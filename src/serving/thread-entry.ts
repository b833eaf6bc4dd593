/**
 * A handler thread's main module (see thread-host.ts): loads the archive's handler, then runs
 * each batch it is sent through the same contract checks as in-process, and answers with the
 * responses or a serialized KilnError.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { KilnError, isKilnError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { initializeArchiveHandler } from '../handlers/from-archive.js';
import { runBatch } from '../handlers/run.js';
import type { ResponseSettings } from '../handlers/types.js';
import type { BatchMessage, HostMessage, SerializedError, ThreadData, ThreadMessage } from './thread-protocol.js';

function serialize(error: unknown): SerializedError {
  const kiln = isKilnError(error)
    ? error
    : new KilnError('KILN_HANDLER_FAILED', 'Prediction failed', { details: { reason: (error as Error)?.message ?? String(error) } });
  // Details must survive structured cloning: keep what JSON can carry.
  return { code: kiln.code, message: kiln.message, details: JSON.parse(JSON.stringify(kiln.details)) as Record<string, unknown> };
}

const data = workerData as ThreadData;
const port = parentPort!;
const send = (message: HostMessage) => port.postMessage(message);
const logger = createLogger({ level: data.logLevel, base: { component: 'handler-thread', model: data.modelName } });

try {
  const ready = await initializeArchiveHandler(
    { ...data.archive, remove: async () => undefined },
    { logger, batchSize: data.batchSize, modelName: data.modelName },
  );
  // The host may hand over the next batch before this one is answered. Handlers are not
  // reentrant, so batches run one after another in the order they came; one not yet started can
  // be recalled (the worker is stopping) and goes back to the server's queue.
  const waiting: BatchMessage[] = [];
  let running = false;
  let closing = false;
  const close = () =>
    void Promise.resolve(ready.handler.close?.())
      .catch((error: unknown) => logger.warn({ err: error }, 'handler close failed'))
      .finally(() => process.exit(0));
  const runOne = async (message: BatchMessage) => {
    // Callbacks cannot cross threads: intermediate results travel back as messages.
    const requests = message.requests.map((request, index) => ({
      ...request,
      onIntermediate: (body: Uint8Array, settings: ResponseSettings) => send({ type: 'chunk', id: message.id, index, body, settings }),
    }));
    const started = performance.now();
    try {
      const responses = await runBatch(ready.handler, ready.model, requests);
      send({ type: 'result', id: message.id, responses, handlerMs: performance.now() - started });
    } catch (error) {
      send({ type: 'error', id: message.id, error: serialize(error) });
    }
  };
  const runWaiting = async () => {
    if (running) return;
    running = true;
    for (let message = waiting.shift(); message; message = waiting.shift()) {
      // Only a failed send lands here; the host's responseTimeout then replaces this thread.
      await runOne(message).catch((error: unknown) => logger.error({ err: error }, 'could not send a batch result'));
    }
    running = false;
    if (closing) close();
  };
  port.on('message', (message: ThreadMessage) => {
    if (message.type === 'close') {
      closing = true;
      if (!running) close();
    } else if (message.type === 'recall') {
      // The inputs go back too: their bytes may have been moved here, not copied.
      for (const recalled of waiting.splice(0)) send({ type: 'recalled', id: recalled.id, inputs: recalled.requests.map((request) => request.input) });
    } else {
      waiting.push(message);
      void runWaiting();
    }
  });
  send({ type: 'ready' });
} catch (error) {
  send({ type: 'init-error', error: serialize(error) });
}
