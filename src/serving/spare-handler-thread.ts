import { prestartThread, siblingModule } from '../core/ts-thread.js';
import { BUILTIN_HANDLER_MODULES } from '../handlers/builtin-handlers.js';

/**
 * What a spare loads, in order: the first built-in handler (the image classifier), onnxruntime's
 * one-off warm-up (runtime/warm-up.ts: the next session in the process then loads ≈ 35 ms
 * sooner), then the other handlers. A spare taken early (a startup model) stops after the first.
 */
function sparePreloads(): URL[] {
  const [first, ...rest] = BUILTIN_HANDLER_MODULES;
  return [first!, siblingModule('../runtime/warm-up', import.meta.url), ...rest];
}

/**
 * Starts a spare handler thread (see `spare_handler_thread`) unless one waits already: Node,
 * the thread's entry and the built-in handlers' modules (onnxruntime, sharp) load ahead of the
 * registration that takes it. Light to import, so `kiln serve` can start it before it loads
 * the server's own modules.
 */
export function prestartHandlerThread(): void {
  prestartThread(siblingModule('thread-entry', import.meta.url), sparePreloads());
}
