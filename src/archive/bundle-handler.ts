import { build, type Message } from 'esbuild';
import { KilnError } from '../core/errors.js';

/**
 * Packages that stay outside a bundled handler: native addons cannot be inlined, and `kiln`
 * itself is provided by the server when the handler loads (so `instanceof PredictionError`
 * holds and there is one copy of the runtime).
 */
export const HANDLER_EXTERNALS: readonly string[] = ['kiln', 'kiln/*', 'onnxruntime-node', 'onnxruntime-common', 'sharp'];

/** File name of a bundled user handler inside an archive. */
export const BUNDLED_HANDLER_FILE = 'handler.cjs';

/**
 * Bundles a TypeScript or JavaScript handler and everything it imports (npm packages
 * included, except {@link HANDLER_EXTERNALS}) into one CommonJS module, so the server needs
 * neither a compiler nor the handler's node_modules.
 */
export async function bundleHandler(entry: string): Promise<Uint8Array> {
  try {
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      write: false,
      external: [...HANDLER_EXTERNALS],
      logLevel: 'silent',
      legalComments: 'inline',
    });
    return result.outputFiles[0]!.contents;
  } catch (error) {
    const first = (error as { errors?: Message[] }).errors?.[0];
    const where = first?.location ? `${first.location.file}:${first.location.line}:${first.location.column}: ` : '';
    throw new KilnError('KILN_HANDLER_BUNDLE_FAILED', `${entry}: cannot bundle the handler: ${where}${first?.text ?? (error as Error).message}`, {
      cause: error,
      details: { entry },
    });
  }
}
