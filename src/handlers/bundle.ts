// Types only: esbuild is imported when a handler is bundled (kiln archive), never when one is loaded.
import type { Message, Plugin } from 'esbuild';
import { KilnError } from '../core/errors.js';

/** The module a handler imports kiln's handler API from (`package.json` exports it). */
export const HANDLER_API_MODULE = 'kiln/handler';

/**
 * Packages that stay outside a bundled handler and come from the server's installation:
 * native addons cannot be inlined, and the handler API must be the server's own copy (one
 * `PredictionError` class, one onnxruntime). The loader resolves exactly these.
 */
export const HANDLER_EXTERNALS: readonly string[] = [HANDLER_API_MODULE, 'onnxruntime-node', 'onnxruntime-common', 'sharp'];

/** File name of a bundled user handler inside an archive. */
export const BUNDLED_HANDLER_FILE = 'handler.cjs';

/** Refuses `kiln` imports other than the handler API: they would be undefined at run time. */
const onlyHandlerApi: Plugin = {
  name: 'kiln-handler-api-only',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^kiln(\/.*)?$/ }, (args) =>
      args.path === HANDLER_API_MODULE
        ? { path: args.path, external: true }
        : { errors: [{ text: `import '${args.path}' is not available to handlers: import from '${HANDLER_API_MODULE}'` }] },
    );
  },
};

function describe(message: Message): string {
  const where = message.location ? `${message.location.file}:${message.location.line}:${message.location.column}: ` : '';
  return `${where}${message.text}`;
}

/**
 * Bundles a TypeScript or JavaScript handler and everything it imports (npm packages
 * included, except {@link HANDLER_EXTERNALS}) into one CommonJS module, so the server needs
 * neither a compiler nor the handler's node_modules. `import.meta.url` keeps working (it is
 * the bundle's own URL); esbuild warnings fail the build rather than become run-time surprises.
 */
export async function bundleHandler(entry: string): Promise<Uint8Array> {
  const { build } = await import('esbuild');
  let result;
  try {
    result = await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      write: false,
      external: HANDLER_EXTERNALS.filter((name) => name !== HANDLER_API_MODULE),
      plugins: [onlyHandlerApi],
      define: { 'import.meta.url': '__kiln_import_meta_url' },
      banner: { js: 'const __kiln_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
      logLevel: 'silent',
      legalComments: 'inline',
    });
  } catch (error) {
    const first = (error as { errors?: Message[] }).errors?.[0];
    throw new KilnError('KILN_HANDLER_BUNDLE_FAILED', `${entry}: cannot bundle the handler: ${first ? describe(first) : (error as Error).message}`, {
      cause: error,
      details: { entry },
    });
  }
  if (result.warnings.length > 0) {
    throw new KilnError('KILN_HANDLER_BUNDLE_FAILED', `${entry}: cannot bundle the handler: ${describe(result.warnings[0]!)}`, {
      details: { entry, warnings: result.warnings.map(describe) },
    });
  }
  return result.outputFiles[0]!.contents;
}
