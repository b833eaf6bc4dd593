/**
 * onnxruntime's one-off start-up: the first session a process creates, in any thread, costs
 * ≈ 30–40 ms more than the next (its environment, kernel and optimizer registries; measured on
 * MobileNetV2: a worker thread's first session 68–74 ms, 35–38 ms after a session elsewhere in
 * the process). A spare handler thread with nothing else to do pays it on a model of one
 * Identity node, so that the first model registered does not.
 */
import { Engine } from './engine.js';

/** `x → Identity → y`, float32 `[1]`, opset 17: warm-up.test.ts rebuilds it with onnx/build and compares. */
export const IDENTITY_MODEL: Uint8Array = Buffer.from(
  'CAgSBGtpbG46QgoQCgF4EgF5IghJZGVudGl0eRIMa2lsbi13YXJtLXVwWg8KAXgSCgoICAESBAoCCAFiDwoBeRIKCggIARIECgIIAUIECgAQEQ==',
  'base64',
);

/** Creates and releases a session of {@link IDENTITY_MODEL} on one thread. */
export async function warmUpOnnxRuntime(): Promise<void> {
  const engine = await Engine.load(IDENTITY_MODEL, { intraOpThreads: 1, label: 'onnxruntime warm-up' });
  await engine.release();
}

/** The spare thread's hook (core/ts-thread.ts): run after this module is preloaded. */
export const warmUpSpareThread = warmUpOnnxRuntime;
