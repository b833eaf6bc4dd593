import type { Manifest } from '../archive/manifest.js';
import type { ModelConfig } from '../archive/model-config.js';
import type { BatchRequest, HandlerResponse } from '../handlers/run.js';
import type { RequestInput, ResponseSettings } from '../handlers/types.js';

/** What a handler thread is started with (structured-cloneable). */
export interface ThreadData {
  readonly archive: {
    readonly source: string;
    readonly format: 'zip' | 'tgz' | 'directory';
    readonly dir: string;
    readonly files: string[];
    readonly manifest: Manifest;
    readonly modelConfig: ModelConfig;
    readonly modelPath: string | undefined;
  };
  readonly modelName: string;
  readonly batchSize: number;
  readonly logLevel: string;
}

/** A KilnError as it crosses a thread boundary. */
export interface SerializedError {
  readonly code: string;
  readonly message: string;
  readonly details: Record<string, unknown>;
}

/** A batch for a handler thread to run. */
export interface BatchMessage {
  readonly type: 'batch';
  readonly id: number;
  readonly requests: readonly BatchRequest[];
}

/** Messages to a handler thread; `recall` asks for the batches it has not started back. */
export type ThreadMessage = BatchMessage | { readonly type: 'recall' } | { readonly type: 'close' };

/** Messages from a handler thread. */
export type HostMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'init-error'; readonly error: SerializedError }
  | { readonly type: 'result'; readonly id: number; readonly responses: HandlerResponse[]; readonly handlerMs: number }
  | { readonly type: 'error'; readonly id: number; readonly error: SerializedError }
  | { readonly type: 'recalled'; readonly id: number; readonly inputs: RequestInput[] }
  | { readonly type: 'chunk'; readonly id: number; readonly index: number; readonly body: Uint8Array; readonly settings: ResponseSettings };
