/**
 * Running a workflow's DAG, transport-free and model-free: which input each node gets, when it
 * may run, and how one node's attempts are timed and retried. The workflow registry supplies
 * what running a node means (a model's or a handler function's queue).
 */
import type { WorkflowDag } from '../archive/workflow-spec.js';
import { KilnError } from '../core/errors.js';
import type { RequestInput } from '../handlers/types.js';

/**
 * The input a node gets, as TorchServe's DAG executor builds it: the start node gets the
 * request's own input; a node with one parent gets `{body: <parent's output>}`; a node with
 * several gets `{<parent>: <its output>, …}` in the order the spec declares the edges.
 */
export function nodeInput(dag: WorkflowDag, node: string, request: RequestInput, outputs: ReadonlyMap<string, unknown>): RequestInput {
  const parents = dag.parents.get(node) ?? [];
  if (parents.length === 0) return request;
  if (parents.length === 1) return { body: outputs.get(parents[0]!) };
  return Object.fromEntries(parents.map((parent) => [parent, outputs.get(parent)]));
}

/**
 * Runs every node once its parents are done (independent branches run at the same time) and
 * resolves with the leaves' results, in the spec's order. `pass` turns a node's result into
 * what its children receive (a model's response bytes). The first failure rejects the run, and
 * no node starts after it.
 * @example const leaves = await runDag(dag, { body }, (node, input) => predict(node, input), (r) => r.body);
 */
export async function runDag<T>(
  dag: WorkflowDag,
  request: RequestInput,
  runNode: (node: string, input: RequestInput) => Promise<T>,
  pass: (result: T) => unknown,
): Promise<Map<string, T>> {
  const results = new Map<string, Promise<T>>();
  const passed = new Map<string, unknown>();
  let failed = false;
  const run = (node: string): Promise<T> => {
    let result = results.get(node);
    if (!result) {
      const parents = dag.parents.get(node) ?? [];
      result = Promise.all(parents.map(run)).then(async () => {
        if (failed) throw new KilnError('KILN_CORE_INTERNAL', `workflow node ${node} skipped after another node failed`);
        try {
          const value = await runNode(node, nodeInput(dag, node, request, passed));
          passed.set(node, pass(value));
          return value;
        } catch (error) {
          failed = true;
          throw error;
        }
      });
      results.set(node, result);
    }
    return result;
  };
  const leaves = await Promise.all(dag.leaves.map(run));
  return new Map(dag.leaves.map((leaf, index) => [leaf, leaves[index]!]));
}

/** How long one attempt of a node may take, and how often a failed one is tried again. */
export interface AttemptPolicy {
  /** Further attempts after the first. */
  readonly retryAttempts: number;
  readonly timeoutMs: number;
}

/**
 * Runs `attempt` until it succeeds, at most `1 + retryAttempts` times, each within `timeoutMs`
 * (TorchServe retries timeouts and failures alike). An attempt that times out is abandoned, not
 * cancelled: its job may still run. Errors `final(error)` accepts are not retried (a model that
 * is gone stays gone). Rejects with the last attempt's error and the number of attempts made.
 */
export async function withAttempts<T>(
  attempt: () => Promise<T>,
  policy: AttemptPolicy,
  final: (error: unknown) => boolean = () => false,
): Promise<T> {
  const attempts = 1 + policy.retryAttempts;
  let last: unknown;
  for (let made = 1; made <= attempts; made++) {
    try {
      return await withTimeout(attempt(), policy.timeoutMs);
    } catch (error) {
      last = error;
      if (final(error)) throw new AttemptsFailed(error, made);
    }
  }
  throw new AttemptsFailed(last, attempts);
}

/** What {@link withAttempts} rejects with: the last error and how many attempts were made. */
export class AttemptsFailed extends Error {
  readonly attempts: number;

  constructor(cause: unknown, attempts: number) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'AttemptsFailed';
    this.attempts = attempts;
  }
}

function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms (timeout-ms)`)), timeoutMs);
  });
  // An abandoned attempt may still fail later; that failure has nobody left to tell.
  work.catch(() => undefined);
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
