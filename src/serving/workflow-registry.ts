import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { createManifest } from '../archive/manifest.js';
import type { OpenedArchive } from '../archive/read.js';
import { checkWorkflowName } from '../archive/workflow-manifest.js';
import { openWorkflowArchive, type OpenedWorkflowArchive } from '../archive/workflow-archive.js';
import { formatWorkflowDag, invalidWorkflowSpec, type WorkflowNodeSettings } from '../archive/workflow-spec.js';
import { KilnError, describeError, isKilnError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { WORKFLOW_SETTINGS, type WorkflowSettingName } from '../core/serving-settings.js';
import { handlerFunctionNames } from '../handlers/load.js';
import type { BatchRequest, HandlerResponse } from '../handlers/run.js';
import { resolveArchiveUrl, type ModelStoreConfig } from './model-store.js';
import type { ModelRegistry, RegisterOptions } from './registry.js';
import { AttemptsFailed, runDag, withAttempts, type AttemptPolicy } from './workflow-dag.js';

/** `POST /workflows` parameters. */
export interface WorkflowRegisterOptions {
  readonly url: string;
  /** Replaces the manifest's workflowName (and so the prefix of its models' names). */
  readonly workflowName?: string;
  /** Seconds, for every model of the workflow. @defaultValue the server's default_response_timeout */
  readonly responseTimeout?: number;
  /** Seconds, for every model of the workflow. @defaultValue the server's default_startup_timeout */
  readonly startupTimeout?: number;
}

/** One row of `GET /workflows`. */
export interface ListedWorkflow {
  readonly workflowName: string;
  readonly workflowUrl: string;
}

/** `GET /workflows/{w}`: TorchServe's fields (the worker and batch values are the spec's `models:` level). */
export type WorkflowDescription = ListedWorkflow & { readonly [K in WorkflowSettingName]: number } & { readonly workflowDag: string };

/** What serves one DAG node: a registered model version and how its attempts are timed. */
interface NodeBinding {
  readonly model: string;
  readonly version: string;
  readonly policy: AttemptPolicy;
}

interface Workflow {
  readonly name: string;
  readonly url: string;
  readonly archive: OpenedWorkflowArchive;
  readonly nodes: ReadonlyMap<string, NodeBinding>;
  /** The .war kiln downloaded into the store, deleted with the workflow. */
  readonly downloaded: string | undefined;
}

/** What the workflow registry needs. */
export interface WorkflowRegistryInit {
  readonly models: ModelRegistry;
  readonly store: ModelStoreConfig;
  readonly logger: Logger;
}

/** Function nodes run one worker, one request per batch, no batching wait (TorchServe's values). */
const FUNCTION_NODE: Pick<RegisterOptions, 'initialWorkers' | 'maxWorkers' | 'batchSize' | 'maxBatchDelay'> = Object.freeze({
  initialWorkers: 1,
  maxWorkers: 1,
  batchSize: 1,
  maxBatchDelay: 0,
});

const EMPTY_CONFIG = Object.freeze({ server: Object.freeze({}), handler: Object.freeze({}) });

/**
 * Workflows (TorchServe's model DAGs) over the model registry: registering one registers every
 * DAG node as a model named `<workflow>__<node>` (a spec model from its archive, a handler
 * function as a model whose handler is that function), all or nothing; predicting runs the DAG
 * through those models' queues and workers. Workflows have no versions, no scaling and no
 * snapshots.
 */
export class WorkflowRegistry {
  readonly #workflows = new Map<string, Workflow>();
  readonly #pending = new Set<string>();
  readonly #init: WorkflowRegistryInit;

  constructor(init: WorkflowRegistryInit) {
    this.#init = init;
  }

  #workflow(name: string): Workflow {
    const workflow = this.#workflows.get(name);
    if (!workflow) throw new KilnError('KILN_SERVE_WORKFLOW_NOT_FOUND', `Workflow not found: ${name}`, { details: { workflow: name } });
    return workflow;
  }

  /** Registers a workflow archive and all its nodes; returns the workflow's name. */
  async register(options: WorkflowRegisterOptions): Promise<string> {
    const resolved = await resolveArchiveUrl(options.url, this.#init.store);
    const downloaded = resolved.downloaded ? resolved.path : undefined;
    let archive: OpenedWorkflowArchive | undefined;
    let pending: string | undefined;
    try {
      archive = await openWorkflowArchive(resolved.path);
      const name = options.workflowName ?? archive.manifest.workflow.workflowName;
      checkWorkflowName(name);
      if (this.#workflows.has(name) || this.#pending.has(name)) {
        throw new KilnError('KILN_SERVE_WORKFLOW_EXISTS', `Workflow ${name} is already registered.`, { details: { workflow: name } });
      }
      pending = name;
      this.#pending.add(name);
      const url = downloaded ? basename(downloaded) : options.url;
      const nodes = await this.#registerNodes(name, url, archive, options);
      this.#workflows.set(name, { name, url, archive, nodes, downloaded });
      return name;
    } catch (error) {
      await archive?.remove();
      if (downloaded) rmSync(downloaded, { force: true });
      throw error;
    } finally {
      if (pending !== undefined) this.#pending.delete(pending);
    }
  }

  /** Which nodes are handler functions; refuses a node that is neither a spec model nor a function. */
  async #functionNodes(archive: OpenedWorkflowArchive): Promise<Set<string>> {
    const { spec, manifest } = archive;
    const functions = spec.dag.order.filter((node) => !spec.models.has(node));
    if (functions.length === 0) return new Set();
    const handler = manifest.workflow.handler;
    if (extname(handler) === '.py') {
      throw new KilnError(
        'KILN_ARCHIVE_UNSUPPORTED',
        `${basename(archive.source)}: the nodes ${functions.join(', ')} are functions of a Python handler '${handler}'; kiln runs TypeScript handlers (rebuild with kiln archive-workflow)`,
      );
    }
    const exported = new Set(await handlerFunctionNames(archive.handlerPath));
    const missing = functions.filter((node) => !exported.has(node));
    if (missing.length > 0) {
      const nodes = missing.map((node) => `'${node}'`).join(', ');
      throw invalidWorkflowSpec(`dag: ${nodes} ${missing.length === 1 ? 'is' : 'are'} neither a model of the spec nor a function exported by the handler ${handler}`);
    }
    return new Set(functions);
  }

  /** Registers every node at once; if any fails, the ones that worked are unregistered again. */
  async #registerNodes(name: string, url: string, archive: OpenedWorkflowArchive, options: WorkflowRegisterOptions): Promise<Map<string, NodeBinding>> {
    const { spec } = archive;
    const functions = await this.#functionNodes(archive);
    const timeouts = {
      ...(options.responseTimeout !== undefined ? { responseTimeout: options.responseTimeout } : {}),
      ...(options.startupTimeout !== undefined ? { startupTimeout: options.startupTimeout } : {}),
    };
    const models = this.#init.models;
    const settled = await Promise.allSettled(
      spec.dag.order.map(async (node): Promise<[string, NodeBinding]> => {
        const modelName = `${name}__${node}`;
        const common = { modelName, ...timeouts, synchronous: true, workflow: name };
        let settings: WorkflowNodeSettings = spec.defaults;
        let outcome;
        if (functions.has(node)) {
          outcome = await models.registerOpened(functionArchive(archive, modelName, node), { url, ...common, ...FUNCTION_NODE });
        } else {
          const model = spec.models.get(node)!;
          settings = model;
          // TorchServe starts max-workers workers for a workflow model (its initial_workers).
          const workers = { initialWorkers: model.maxWorkers, maxWorkers: model.maxWorkers, batchSize: model.batchSize, maxBatchDelay: model.maxBatchDelay };
          outcome = await models.register({ url: model.url, ...common, ...workers });
        }
        return [node, { model: modelName, version: outcome.version, policy: { retryAttempts: settings.retryAttempts, timeoutMs: settings.timeoutMs } }];
      }),
    );
    const done = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failures = settled.flatMap((result, index) =>
      result.status === 'rejected' ? [`Workflow Node ${name}__${spec.dag.order[index]} failed to register. Details: ${describeError(result.reason)}`] : [],
    );
    if (failures.length === 0) return new Map(done);
    for (const [, binding] of done) {
      await models.unregister(binding.model, binding.version).catch((error: unknown) => {
        failures.push(`Error while doing rollback of failed workflow. Details: ${describeError(error)}`);
      });
    }
    throw new KilnError('KILN_SERVE_WORKFLOW_FAILED', `Workflow ${name} has failed to register. Failures: [${failures.join(', ')}]`, {
      details: { workflow: name },
    });
  }

  /** Removes a workflow and every model of it (models already gone are skipped). */
  async unregister(name: string): Promise<void> {
    const workflow = this.#workflow(name);
    this.#workflows.delete(name);
    for (const binding of workflow.nodes.values()) {
      await this.#init.models.unregister(binding.model, binding.version).catch((error: unknown) => {
        if (!isKilnError(error, 'KILN_SERVE_MODEL_NOT_FOUND') && !isKilnError(error, 'KILN_SERVE_VERSION_NOT_FOUND')) throw error;
        this.#init.logger.warn({ workflow: name, model: binding.model }, 'a model of the workflow was already unregistered');
      });
    }
    await workflow.archive.remove();
    if (workflow.downloaded) rmSync(workflow.downloaded, { force: true });
  }

  /** `GET /workflows`: by name, paged as TorchServe pages models. */
  list(limit: number, token: number): { workflows: ListedWorkflow[]; nextPageToken?: string } {
    const names = [...this.#workflows.keys()].sort();
    const page = names.slice(token, token + limit).map((name) => ({ workflowName: name, workflowUrl: this.#workflows.get(name)!.url }));
    return token + limit <= names.length ? { nextPageToken: String(token + limit), workflows: page } : { workflows: page };
  }

  /** `GET /workflows/{w}`: a list of one, as TorchServe answers. */
  describe(name: string): WorkflowDescription[] {
    const workflow = this.#workflow(name);
    const { defaults, dag } = workflow.archive.spec;
    return [
      {
        workflowName: name,
        workflowUrl: workflow.url,
        // The serving settings a spec sets (the settings table's workflow ones), in table order.
        ...(Object.fromEntries([...WORKFLOW_SETTINGS.values()].map((setting) => [setting, defaults[setting]])) as Record<WorkflowSettingName, number>),
        workflowDag: formatWorkflowDag(dag),
      },
    ];
  }

  /**
   * Runs one request through the workflow's DAG (`POST /wfpredict/{w}`). One leaf: its response.
   * Several: a JSON object of each leaf's output by node name, as TorchServe merges them.
   */
  async predict(name: string, request: BatchRequest, options: { readonly counted: boolean } = { counted: false }): Promise<HandlerResponse> {
    const workflow = this.#workflow(name);
    const leaves = await runDag(
      workflow.archive.spec.dag,
      request.input,
      (node, input) => this.#runNode(workflow, node, { input, id: randomUUID(), ...(request.headers ? { headers: request.headers } : {}) }, options.counted),
      (response) => response.body,
    );
    if (leaves.size === 1) return [...leaves.values()][0]!;
    const merged = Object.fromEntries([...leaves].map(([node, response]) => [node, parseOutput(response)]));
    return { body: new TextEncoder().encode(`${JSON.stringify(merged, null, 2)}\n`), json: true, settings: { headers: {} } };
  }

  async #runNode(workflow: Workflow, node: string, request: BatchRequest, counted: boolean): Promise<HandlerResponse> {
    const binding = workflow.nodes.get(node)!;
    const gone = (error: unknown) => isKilnError(error, 'KILN_SERVE_MODEL_NOT_FOUND') || isKilnError(error, 'KILN_SERVE_VERSION_NOT_FOUND');
    // A node's model request is counted once, when an attempt is answered (its latency from the
    // node's start; the label says `default`, as the caller named no version).
    const origin = counted ? { arrived: performance.now(), versionNamed: false } : undefined;
    try {
      return await withAttempts(() => this.#init.models.predict(binding.model, binding.version, request, origin), binding.policy, gone);
    } catch (error) {
      const failed = error as AttemptsFailed;
      this.#init.logger.warn({ err: failed.cause, workflow: workflow.name, node, attempts: failed.attempts }, 'workflow node failed');
      throw new KilnError('KILN_SERVE_WORKFLOW_NODE_FAILED', `Error executing ${node} after ${failed.attempts} attempt(s): ${failed.message}`, {
        cause: failed.cause,
        details: { workflow: workflow.name, node, attempts: failed.attempts },
      });
    }
  }

  /** Unregisters every workflow (server shutdown). */
  async close(): Promise<void> {
    for (const name of [...this.#workflows.keys()]) {
      await this.unregister(name).catch((error: unknown) => this.#init.logger.error({ err: error, workflow: name }, 'could not unregister the workflow'));
    }
  }
}

/** A leaf's output inside the merged response: its JSON value, or its text when it is not JSON. */
function parseOutput(response: HandlerResponse): unknown {
  const text = new TextDecoder().decode(response.body);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * A function node as a model archive: the workflow's own files, with a manifest whose handler
 * is `<handler file>:<function>` (TorchServe does the same), so the function runs in a worker
 * like any handler: called once as `fn(null, ctx)`, then `fn(batch, ctx)` per batch. Its files
 * belong to the workflow, so removing this "archive" removes nothing.
 */
function functionArchive(workflow: OpenedWorkflowArchive, modelName: string, fn: string): OpenedArchive {
  return {
    source: workflow.source,
    format: 'directory',
    dir: workflow.dir,
    files: workflow.files,
    manifest: createManifest({ modelName, modelVersion: '1.0', handler: `${workflow.manifest.workflow.handler}:${fn}` }),
    modelConfig: EMPTY_CONFIG,
    modelPath: undefined,
    remove: async () => undefined,
  };
}
