import { KilnError } from '../core/errors.js';
import { siblingModule, startTypeScriptThread } from '../core/ts-thread.js';
import { batchesInFlightCounter } from './batches-in-flight.js';
import type { HostInit } from './handler-host.js';
import type { HostMessage } from './host-protocol.js';
import { RemoteHost, type ChannelOpener } from './remote-host.js';

/**
 * The handler in a worker thread: onnxruntime's synchronous `run` and any JavaScript the handler
 * does (decoding, box extraction) happen off the server's event loop, so health checks and other
 * requests stay responsive; a handler that hangs is terminated, not abandoned. Cheaper than a
 * process (request bytes move instead of being copied), but the handler shares the server's
 * process: its `process.exit`, native memory and children are the server's. Kept for the
 * built-in handlers, whose code is kiln's.
 */
export class ThreadHost extends RemoteHost {
  constructor(init: HostInit) {
    super(init, openThread(init));
  }
}

function openThread(init: HostInit): ChannelOpener {
  return (data, events) => {
    const thread = startTypeScriptThread(siblingModule('thread-entry', import.meta.url), { workerData: { ...data, batchesInFlight: batchesInFlightCounter() } });
    let crash: Error | undefined;
    thread.on('message', (message: HostMessage) => events.message(message));
    thread.on('error', (error) => {
      init.logger.error({ err: error }, 'handler thread crashed');
      crash = error;
    });
    thread.on('exit', (code) => events.exit(new KilnError('KILN_SERVE_WORKER_DIED', 'Worker died.', { ...(crash ? { cause: crash } : {}), details: { exitCode: code } })));
    return {
      pid: process.pid,
      send: (command, transfer) => thread.postMessage(command, [...transfer]),
      rss: () => undefined,
      kill: async () => void (await thread.terminate()),
    };
  };
}
