import { prestartThread, siblingModule } from '../core/ts-thread.js';
import { BUILTIN_HANDLER_MODULES } from '../handlers/builtin-handlers.js';

/**
 * Starts a spare handler thread (see `spare_handler_thread`) unless one waits already: Node,
 * the thread's entry and the built-in handlers' modules (onnxruntime, sharp) load ahead of the
 * registration that takes it. Light to import, so `kiln serve` can start it before it loads
 * the server's own modules.
 */
export function prestartHandlerThread(): void {
  prestartThread(siblingModule('thread-entry', import.meta.url), BUILTIN_HANDLER_MODULES);
}
