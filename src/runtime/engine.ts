
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Ort from 'onnxruntime-node';
import { KilnError, describeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { silentLogger } from '../core/log.js';
import { scopedEngineDefaults, type SoloRuns } from './served-threads.js';
import { feedProblems, type TensorSignature } from './feeds.js';
import { ort } from './ort.js';
import { fromOrtTensor, toOrtTensor, type HostTensor, type HostTensorType } from './tensors.js';

/** Execution providers kiln knows how to ask for. CPU is always there. */
export type ExecutionProvider = 'cpu' | 'cuda';

/** Graph optimization levels of onnxruntime, from none to all (layout included). */
export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

/** Options for {@link Engine.load}; every default is written here once. */
export interface EngineOptions {
  /**
   * Threads inside one operator; 0 means automatic: inside the model server, its sizing rule
   * (see ./served-threads.ts), elsewhere onnxruntime's choice (one per physical core).
   * @defaultValue 0
   */
  readonly intraOpThreads?: number;
  /** Threads across independent operators (only used with parallel execution). @defaultValue 0 */
  readonly interOpThreads?: number;
  /** @defaultValue `'all'` */
  readonly graphOptimizationLevel?: GraphOptimizationLevel;
  /** Write the graph as optimized by onnxruntime to this path (used by the fusion check). */
  readonly optimizedModelPath?: string;
  /**
   * Providers in order of preference. Asking for `'cuda'` on a machine without it fails with
   * `KILN_RUNTIME_PROVIDER_UNAVAILABLE`; use {@link availableProviders} to choose first.
   * @defaultValue `['cpu']`
   */
  readonly providers?: readonly ExecutionProvider[];
  /**
   * onnxruntime session configuration entries by their full key (`session.qdqisint8allowed`, …),
   * passed through as `extra`. @defaultValue none
   */
  readonly sessionConfig?: Readonly<Record<string, string>>;
  /** Name used in error messages. @defaultValue the path, or `'model'` for bytes */
  readonly label?: string;
  readonly logger?: Logger;
}

/** Resolved options, as the engine reports them. */
export type EngineConfig = Readonly<Required<Omit<EngineOptions, 'logger' | 'optimizedModelPath' | 'sessionConfig'>>> & {
  readonly optimizedModelPath: string | undefined;
  readonly sessionConfig: Readonly<Record<string, string>>;
  /**
   * Intra-op threads of runs that find themselves alone in a served process (runtime/served-threads.ts,
   * "Solo runs"); 0 when every run uses `intraOpThreads`.
   */
  readonly soloIntraOpThreads: number;
};

const DEFAULTS = Object.freeze({
  intraOpThreads: 0,
  interOpThreads: 0,
  graphOptimizationLevel: 'all' as GraphOptimizationLevel,
  providers: ['cpu'] as readonly ExecutionProvider[],
});

/**
 * Execution providers this onnxruntime-node install can use on this machine. CUDA is not
 * bundled in the npm package: its provider library is fetched by onnxruntime-node's install
 * script (which kiln's .npmrc skips, since it needs the network) or installed by the operator
 * next to the binding. So CUDA counts as available only when that library is present.
 */
export function availableProviders(): ExecutionProvider[] {
  const backends = ort.listSupportedBackends();
  const has = (name: string) =>
    backends.some((backend) => backend.name === name && (backend.bundled || providerLibraryPresent(name)));
  return (['cpu', 'cuda'] as const).filter((name) => name === 'cpu' || has(name));
}

function providerLibraryPresent(name: string): boolean {
  const bin = join(dirname(fileURLToPath(import.meta.resolve('onnxruntime-node'))), '..', 'bin');
  if (!existsSync(bin)) return false;
  const file = process.platform === 'win32' ? `onnxruntime_providers_${name}.dll` : `libonnxruntime_providers_${name}.so`;
  return readdirSync(bin)
    .filter((entry) => entry.startsWith('napi-v'))
    .some((entry) => existsSync(join(bin, entry, process.platform, process.arch, file)));
}

/** The onnxruntime-node version kiln runs on. */
export function runtimeVersion(): string {
  return ort.env.versions.common ?? 'unknown';
}

function toSignature(meta: Ort.InferenceSession.ValueMetadata): TensorSignature {
  if (!meta.isTensor) return { name: meta.name, type: 'string', shape: [] };
  return {
    name: meta.name,
    type: meta.type as HostTensorType,
    // onnxruntime reports a dim with neither value nor name as '' (or -1): both mean unknown.
    shape: meta.shape.map((dim) => (typeof dim === 'number' && dim >= 0 ? dim : typeof dim === 'string' && dim !== '' ? dim : undefined)),
  };
}

/**
 * One loaded model on onnxruntime. The only place kiln touches onnxruntime-node's session:
 * options are explicit, errors come out as KilnErrors with the onnxruntime error as `cause`.
 */
export class Engine {
  readonly label: string;
  readonly config: EngineConfig;
  readonly inputs: readonly TensorSignature[];
  readonly outputs: readonly TensorSignature[];
  readonly #session: Ort.InferenceSession;
  readonly #logger: Logger;
  /** Solo runs: when to use the wide session, and how to open it (dropped once tried). */
  readonly #solo: SoloRuns | undefined;
  #openSolo: (() => Promise<Ort.InferenceSession>) | undefined;
  #soloSession: Ort.InferenceSession | undefined;
  #released = false;

  private constructor(session: Ort.InferenceSession, label: string, config: EngineConfig, logger: Logger, solo?: { runs: SoloRuns; open: () => Promise<Ort.InferenceSession> }) {
    this.#session = session;
    this.#solo = solo?.runs;
    this.#openSolo = solo?.open;
    this.label = label;
    this.config = config;
    this.#logger = logger;
    this.inputs = session.inputMetadata.map(toSignature);
    this.outputs = session.outputMetadata.map(toSignature);
  }

  /** Loads a model from a path (side files resolve next to it) or from bytes. */
  static async load(model: string | Uint8Array, options: EngineOptions = {}): Promise<Engine> {
    const label = options.label ?? (typeof model === 'string' ? model : 'model');
    const scoped = scopedEngineDefaults();
    const intraOpThreads = options.intraOpThreads || scoped?.intraOpThreads || DEFAULTS.intraOpThreads;
    const providers = options.providers ?? DEFAULTS.providers;
    // Solo runs only where the threads are the sizing rule's (not a handler's own) and on the CPU.
    const solo =
      scoped?.solo && !options.intraOpThreads && intraOpThreads > 0 && scoped.solo.intraOpThreads > intraOpThreads && providers.every((provider) => provider === 'cpu')
        ? scoped.solo
        : undefined;
    const config: EngineConfig = {
      intraOpThreads,
      interOpThreads: options.interOpThreads ?? DEFAULTS.interOpThreads,
      graphOptimizationLevel: options.graphOptimizationLevel ?? DEFAULTS.graphOptimizationLevel,
      providers,
      optimizedModelPath: options.optimizedModelPath,
      sessionConfig: { ...scoped?.sessionConfig, ...options.sessionConfig },
      soloIntraOpThreads: solo?.intraOpThreads ?? 0,
      label,
    };
    const available = availableProviders();
    const missing = config.providers.filter((provider) => !available.includes(provider));
    if (missing.length > 0) {
      throw new KilnError(
        'KILN_RUNTIME_PROVIDER_UNAVAILABLE',
        `${label}: execution provider ${missing.join(', ')} is not available here (available: ${available.join(', ')})`,
        { details: { missing, available } },
      );
    }
    const sessionOptions: Ort.InferenceSession.SessionOptions = {
      executionProviders: [...config.providers],
      graphOptimizationLevel: config.graphOptimizationLevel,
      logSeverityLevel: 3,
      ...(config.intraOpThreads > 0 ? { intraOpNumThreads: config.intraOpThreads } : {}),
      ...(config.interOpThreads > 0 ? { interOpNumThreads: config.interOpThreads } : {}),
      ...(config.optimizedModelPath ? { optimizedModelFilePath: config.optimizedModelPath } : {}),
      ...(Object.keys(config.sessionConfig).length > 0 ? { extra: { ...config.sessionConfig } } : {}),
    };
    const logger = (options.logger ?? silentLogger()).child({ model: label });
    const create = (options: Ort.InferenceSession.SessionOptions) =>
      typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
    try {
      const session = await create(sessionOptions);
      logger.debug({ providers: config.providers, threads: config.intraOpThreads, sessionConfig: config.sessionConfig }, 'session created');
      const { optimizedModelFilePath: _written, ...soloOptions } = sessionOptions;
      const open = () => create({ ...soloOptions, intraOpNumThreads: solo!.intraOpThreads });
      return new Engine(session, label, config, logger, solo && { runs: solo, open });
    } catch (error) {
      throw new KilnError('KILN_RUNTIME_SESSION_FAILED', `${label}: onnxruntime cannot load the model: ${cleanOrtMessage(error)}`, {
        cause: error,
        details: { model: label },
      });
    }
  }

  /** Runs the model. Feeds are checked against the signature first, for a precise message. */
  async run(feeds: Readonly<Record<string, HostTensor>>, outputNames?: readonly string[]): Promise<Record<string, HostTensor>> {
    this.#checkFeeds(feeds);
    const ortFeeds: Record<string, Ort.Tensor> = {};
    for (const [name, tensor] of Object.entries(feeds)) {
      try {
        ortFeeds[name] = toOrtTensor(tensor);
      } catch (error) {
        throw new KilnError('KILN_RUNTIME_INPUT_INVALID', `${this.label}: input '${name}': ${cleanOrtMessage(error)}`, {
          cause: error,
          details: { model: this.label, input: name },
        });
      }
    }
    const alone = this.#solo?.alone() === true;
    const session = (alone && this.#soloSession) || this.#session;
    let results: Ort.InferenceSession.ReturnType;
    try {
      results = outputNames ? await session.run(ortFeeds, [...outputNames]) : await session.run(ortFeeds);
    } catch (error) {
      throw new KilnError('KILN_RUNTIME_RUN_FAILED', `${this.label}: inference failed: ${cleanOrtMessage(error)}`, {
        cause: error,
        details: { model: this.label },
      });
    }
    const outputs: Record<string, HostTensor> = {};
    for (const [name, value] of Object.entries(results)) outputs[name] = fromOrtTensor(value as Ort.Tensor);
    if (alone && this.#openSolo) this.#openSoloSoon();
    return outputs;
  }

  /**
   * Opens the solo session after the run that first wanted it has been answered (creating a
   * session blocks this thread), so neither loading nor that answer waits for it. Once: if it
   * fails, runs keep to the main session.
   */
  #openSoloSoon(): void {
    const open = this.#openSolo!;
    this.#openSolo = undefined;
    setImmediate(() => {
      if (this.#released) return;
      open().then(
        (session) => {
          if (this.#released) void session.release();
          else this.#soloSession = session;
          this.#logger.debug({ threads: this.config.soloIntraOpThreads }, 'solo session created');
        },
        (error: unknown) => this.#logger.warn({ err: error }, 'solo session failed to load; every run keeps to the main session'),
      );
    });
  }

  /** Runs the model `iterations` times and discards the results (first-run allocations, caches). */
  async warmUp(feeds: Readonly<Record<string, HostTensor>>, iterations = 1): Promise<void> {
    for (let index = 0; index < iterations; index++) await this.run(feeds);
    this.#logger.debug({ iterations }, 'warmed up');
  }

  /** Frees the native session. The engine cannot run afterwards. */
  async release(): Promise<void> {
    this.#released = true;
    this.#openSolo = undefined;
    await Promise.all([this.#session.release(), this.#soloSession?.release()]);
  }

  #checkFeeds(feeds: Readonly<Record<string, HostTensor>>): void {
    const problems = feedProblems(this.inputs, feeds);
    if (problems.length > 0) {
      throw new KilnError('KILN_RUNTIME_INPUT_INVALID', `${this.label}: ${problems.join('; ')}`, {
        details: { model: this.label, problems },
      });
    }
  }
}

/** onnxruntime messages carry a source location prefix and trailing newlines; keep the reason. */
function cleanOrtMessage(error: unknown): string {
  return describeError(error)
    .replace(/^\[[^\]]*\]\s*/, '')
    .replace(/\s+/g, ' ')
    .trim();
}
