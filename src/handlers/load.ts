import { existsSync, readFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { KilnError } from '../core/errors.js';
import { resolveInside } from '../core/fs.js';
import { HANDLER_API_MODULE, HANDLER_EXTERNALS } from './bundle.js';
import { BUILTIN_HANDLERS } from './builtin-handlers.js';
import { defineHandler, type Handler, type HandlerContext, type RequestInput } from './types.js';

function loadError(spec: string, message: string, cause?: unknown): KilnError {
  return new KilnError('KILN_HANDLER_LOAD_FAILED', `handler '${spec}': ${message}`, { cause, details: { handler: spec } });
}

/** The handler API a bundled handler's `require('kiln/handler')` gets (it loads onnxruntime: imported when first needed). */
type HandlerApi = typeof import('./api.js');

/**
 * Resolves a manifest's handler string to a ready-to-initialize Handler: a built-in name
 * (`image_classifier`, `ocr`, `tensor`), or `file[:function]` naming a bundled module in the
 * archive folder (`handler.cjs`, `handler.cjs:handle`). Only what the handler needs is loaded:
 * one built-in's module, or the handler API for a bundled module (no compiler either way; a
 * user handler was bundled when it was archived).
 */
export async function loadHandler(spec: string, modelDir: string): Promise<Handler> {
  const builtin = BUILTIN_HANDLERS.get(spec);
  if (builtin) return builtin();
  const [file, exportName] = spec.split(':') as [string, string | undefined];
  const path = resolveInside(modelDir, file);
  if (!path || !existsSync(path)) {
    throw new KilnError(
      'KILN_HANDLER_NOT_FOUND',
      `handler '${spec}' is neither a built-in (${[...BUILTIN_HANDLERS.keys()].join(', ')}) nor a file in the archive`,
      { details: { handler: spec } },
    );
  }
  const exports = evaluateModule(spec, path, await import('./api.js'));
  return toHandler(spec, pickExport(spec, exports, exportName));
}

/**
 * The names of the functions a bundled handler module exports: what a workflow's function nodes
 * may name. The module's top level runs once, in the calling thread, with the `require` every
 * handler gets; the functions themselves are not called.
 */
export async function handlerFunctionNames(path: string): Promise<string[]> {
  const exports = evaluateModule(basename(path), path, await import('./api.js'));
  if (!exports || (typeof exports !== 'object' && typeof exports !== 'function')) return [];
  const record = exports as Record<string, unknown>;
  return Object.keys(record).filter((name) => typeof record[name] === 'function');
}

/**
 * Runs a bundled CommonJS handler. `require('kiln/handler')` gets kiln's handler API; the other
 * externals (sharp, onnxruntime-node) and Node's built-ins resolve from kiln's own installation.
 */
function evaluateModule(spec: string, path: string, kilnApi: HandlerApi): unknown {
  const baseRequire = createRequire(import.meta.url);
  const requireForHandler = (id: string): unknown => {
    if (id === HANDLER_API_MODULE) return kilnApi;
    if (HANDLER_EXTERNALS.includes(id) || id.startsWith('node:') || builtinModules.includes(id)) return baseRequire(id);
    // Anything else was bundled at archive time; a stray require would find the host's packages.
    throw new Error(`require('${id}') is not available to handlers (it should have been bundled)`);
  };
  const module = { exports: {} as unknown };
  try {
    const factory = new Function('require', 'module', 'exports', '__filename', '__dirname', readFileSync(path, 'utf8'));
    factory(requireForHandler, module, module.exports, path, join(path, '..'));
  } catch (error) {
    throw loadError(spec, `the module failed to load: ${(error as Error).message}`, error);
  }
  return module.exports;
}

function pickExport(spec: string, exports: unknown, name: string | undefined): unknown {
  const record = (exports ?? {}) as Record<string, unknown>;
  if (name) {
    if (!(name in record)) throw loadError(spec, `the module has no export '${name}'`);
    return record[name];
  }
  // `module.exports = { initialize, handle }` is itself the handler; otherwise look for the
  // ESM default export, then a named `handler`, then a bare `handle` function.
  if (typeof record['handle'] === 'function' && typeof record['initialize'] === 'function') return exports;
  if (typeof record['inference'] === 'function') return exports;
  return record['default'] ?? record['handler'] ?? record['handle'] ?? exports;
}

type Steps = Partial<Record<'initialize' | 'preprocess' | 'inference' | 'postprocess' | 'handle' | 'close' | 'describe' | 'prepare', (...args: never[]) => unknown>> & { readonly overlap?: unknown };

/**
 * Accepts the shapes TorchServe accepts, in TypeScript: a Handler or steps object, a class
 * with `initialize`/`handle` (instantiated once), or a function `fn(data, ctx)` that is first
 * called as `fn(null, ctx)` to initialize.
 */
function toHandler(spec: string, candidate: unknown): Handler {
  if (typeof candidate === 'function' && candidate.prototype && ('handle' in candidate.prototype || 'inference' in candidate.prototype)) {
    return toHandler(spec, new (candidate as new () => unknown)());
  }
  if (typeof candidate === 'function') {
    const fn = candidate as (data: readonly RequestInput[] | null, context: HandlerContext) => unknown;
    return {
      async initialize(context) {
        await fn(null, context);
      },
      async handle(requests, context) {
        return (await fn(requests, context)) as readonly unknown[];
      },
    };
  }
  if (candidate && typeof candidate === 'object') {
    const steps = candidate as Steps;
    const call = (name: keyof Steps, ...args: unknown[]) => (steps[name] as ((...a: unknown[]) => unknown) | undefined)?.apply(candidate, args);
    const describe = typeof steps.describe === 'function' ? { describe: (context: HandlerContext) => call('describe', context) } : {};
    if (typeof steps.handle === 'function') {
      // A handler built with defineHandler({ overlap: true }) keeps its `prepare` (batches overlap).
      const prepare = typeof steps.prepare === 'function' ? { prepare: (requests: readonly RequestInput[], context: HandlerContext) => call('prepare', requests, context) as Promise<() => Promise<readonly unknown[]>> } : {};
      return {
        initialize: async (context) => void (await call('initialize', context)),
        handle: async (requests, context) => (await call('handle', requests, context)) as readonly unknown[],
        close: async () => void (await call('close')),
        ...describe,
        ...prepare,
      };
    }
    if (typeof steps.inference === 'function') {
      return defineHandler<unknown, unknown>({
        initialize: (context) => call('initialize', context) as Promise<void>,
        preprocess: (requests, context) => (steps.preprocess ? call('preprocess', requests, context) : requests),
        inference: (batch, context) => call('inference', batch, context),
        postprocess: (outputs, context) => (steps.postprocess ? call('postprocess', outputs, context) : outputs) as readonly unknown[],
        close: () => call('close') as Promise<void>,
        ...describe,
        overlap: steps.overlap === true,
      });
    }
  }
  throw loadError(spec, 'the module exports no handler: export an object with handle() or inference(), a class, or a function');
}
