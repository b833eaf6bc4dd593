/**
 * The far side of a handler host, shared by the worker-thread and worker-process entries: loads
 * the archive's handler, then runs each batch it is sent through the contract checks and answers
 * with one outcome per request.
 */


import { createLogger, type Logger } from '../core/log.js';
import { initializeArchiveHandler } from '../handlers/from-archive.js';
import { prepareBatch, type BatchRequest, type PreparedRun } from '../handlers/run.js';
import type { ResponseSettings } from '../handlers/types.js';
import { overlapAllowed, servedEngineDefaults, tuneHandlerProcess } from './host-tuning.js';
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

/** A batch handed over and not yet answered; `prepared` once its preprocess has started. */
interface Slot {
  readonly message: BatchMessage;
  readonly requests: readonly BatchRequest[];
  prepared?: Promise<PreparedRun>;
}

/**
 * Loads the archive's handler and serves the batches it is sent. The host may hand over batches
 * before the current one is answered. Handlers are not reentrant, so batches run one after
 * another in the order they came; but a handler built with `overlap: true` (it has `prepare`)
 * gets each batch's preprocess started as soon as the batch arrives, so that its decoding
 * (sharp, on libuv's threads) proceeds while onnxruntime blocks this thread for the batch ahead.
 * Inference and postprocess still run one batch at a time. A batch whose inference has not
 * started can be recalled (the worker is stopping) and goes back to the server's queue; the
 * preprocess it may have had is dropped.
 */
export async function serveHandler(link: ServerLink, data: HostData, logger: Logger): Promise<void> {
  await tuneHandlerProcess();
  let ready;
  try {
    ready = await initializeArchiveHandler(
      { ...data.archive, remove: async () => undefined },
      { logger, batchSize: data.batchSize, modelName: data.modelName, workers: data.workers, engineDefaults: servedEngineDefaults(data.workers, data.batchesInFlight) },
    );
  } catch (error) {
    link.send({ type: 'init-error', error: serializeError(error) });
    return;
  }
  const { handler, model } = ready;
  const overlap = handler.prepare !== undefined && overlapAllowed();
  const waiting: Slot[] = [];
  /** Preprocesses started and not settled, awaited before the handler closes. */
  const preparing = new Set<Promise<unknown>>();
  let running = false;
  let closing = false;
  const close = () =>
    void Promise.allSettled([...preparing])
      .then(() => handler.close?.())
      .catch((error: unknown) => logger.warn({ err: error }, 'handler close failed'))
      .finally(() => link.exit(0));
  const prepare = (slot: Slot) => {
    // prepareBatch never rejects: a failing preprocess is that batch's outcome, kept for its turn.
    const prepared = prepareBatch(handler, model, slot.requests);
    preparing.add(prepared);
    void prepared.then(
      () => preparing.delete(prepared),
      () => preparing.delete(prepared),
    );
    return prepared;
  };
  const runOne = async (slot: Slot) => {
    try {
      const run = await (slot.prepared ?? prepare(slot));
      const started = performance.now();
      const outcomes = await run.finish();
      // The handler's own time: its preprocess (whenever it ran) and the rest, not the wait between.
      const handlerMs = run.preparedMs + performance.now() - started;
      link.send({ type: 'result', id: slot.message.id, outcomes: toWire(outcomes), handlerMs });
    } catch (error) {
      link.send({ type: 'error', id: slot.message.id, error: serializeError(error) });
    }
  };
  const runWaiting = async () => {
    if (running) return;
    running = true;
    for (let slot = waiting.shift(); slot; slot = waiting.shift()) {
      // Only a failed send lands here; the host's responseTimeout then replaces this worker.
      await runOne(slot).catch((error: unknown) => logger.error({ err: error }, 'could not send a batch result'));
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
      for (const recalled of waiting.splice(0)) link.send({ type: 'recalled', id: recalled.message.id, inputs: recalled.message.requests.map((request) => request.input) });
    } else if (command.type === 'batch') {
      const slot: Slot = { message: command, requests: withIntermediates(link, command) };
      if (overlap && !closing) slot.prepared = prepare(slot);
      waiting.push(slot);
      void runWaiting();
    }
  });
  link.send({ type: 'ready', overlap });
}

/** Callbacks cannot cross threads: intermediate results travel back as messages. */
function withIntermediates(link: ServerLink, message: BatchMessage): BatchRequest[] {
  return message.requests.map((request, index) => ({
    ...request,
    onIntermediate: (body: Uint8Array, settings: ResponseSettings) => link.send({ type: 'chunk', id: message.id, index, body, settings }),
  }));
}
