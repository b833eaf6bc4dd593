/**
 * A workflow specification (TorchServe's workflow YAML): `models:` holds node settings shared
 * by every model plus one entry per model, `dag:` says which nodes each node feeds. Parsed once
 * into a frozen {@link WorkflowSpec} whose DAG is already checked: exactly one start node, no
 * self loop, no cycle. Whether each node is a model or a handler function is the server's
 * question (it needs the handler), not this module's.
 */
import { z } from 'zod';
import { KilnError } from '../core/errors.js';
import { boundedInt } from '../core/serving-limits.js';
import { settingSpec, WORKFLOW_SETTINGS, type WorkflowSettingName } from '../core/serving-settings.js';
import { loadPlainYaml } from './model-config.js';
import { describeIssue } from '../core/schema-errors.js';

/** Settings of one workflow node (TorchServe's spec keys, camelCased). */
export type WorkflowNodeSettings = { readonly [K in WorkflowSettingName]: number } & {
  /** Further attempts after a node fails or times out. */
  readonly retryAttempts: number;
  /** Milliseconds one attempt of a node may take. */
  readonly timeoutMs: number;
};

/** TorchServe's defaults for every workflow model (workflows.md): the table's workflow defaults. */
export const WORKFLOW_DEFAULTS: WorkflowNodeSettings = Object.freeze({
  ...(Object.fromEntries([...WORKFLOW_SETTINGS.values()].map((name) => [name, settingSpec(name).workflow!.default])) as { [K in WorkflowSettingName]: number }),
  retryAttempts: 1,
  timeoutMs: 10_000,
});

/** One model of the spec: its archive url (resolved like `POST /models?url=`) and settings. */
export interface WorkflowModelSpec extends WorkflowNodeSettings {
  readonly url: string;
}

/** A checked DAG. Node order is the order nodes first appear in the spec. */
export interface WorkflowDag {
  /** The one node nothing feeds: it gets the request. */
  readonly start: string;
  /** Every node, parents before children. */
  readonly order: readonly string[];
  readonly children: ReadonlyMap<string, readonly string[]>;
  /** Each node's parents, in the order their edges appear in the spec. */
  readonly parents: ReadonlyMap<string, readonly string[]>;
  /** Nodes that feed nothing: their outputs are the response. */
  readonly leaves: readonly string[];
  /** The edges as the spec declares them (for describe's `workflowDag`). */
  readonly declared: readonly (readonly [string, readonly string[]])[];
}

/** A parsed workflow spec. */
export interface WorkflowSpec {
  /** The `models:` level settings, over {@link WORKFLOW_DEFAULTS}. */
  readonly defaults: WorkflowNodeSettings;
  /** Models by their node name (TorchServe registers them as `<workflow>__<name>`). */
  readonly models: ReadonlyMap<string, WorkflowModelSpec>;
  readonly dag: WorkflowDag;
}

/**
 * Node names: they become part of model names (`w__node`) and URLs. `__proto__` is refused: as
 * an object key it would silently vanish.
 */
export const WORKFLOW_NODE_PATTERN = /^(?!__proto__$)[A-Za-z0-9_][A-Za-z0-9_\-.]*$/;

/** Spec key → the field it sets and its schema: the table's workflow settings, then the workflow's own. */
const SETTINGS: Readonly<Record<string, readonly [keyof WorkflowNodeSettings, z.ZodType<number>]>> = {
  // Worker and batch settings obey the bounds every source shares (core/serving-settings).
  ...Object.fromEntries(
    [...WORKFLOW_SETTINGS].map(([key, name]) => {
      const min = settingSpec(name).workflow!.min;
      return [key, [name, min === undefined ? boundedInt(name) : boundedInt(name).pipe(z.number().min(min))]];
    }),
  ),
  'retry-attempts': ['retryAttempts', z.number().int().min(0).max(100)],
  'timeout-ms': ['timeoutMs', z.number().int().min(1).max(2_147_483_647)],
};

const nodeName = z.string().regex(WORKFLOW_NODE_PATTERN, 'a node name must match ^[A-Za-z0-9_][A-Za-z0-9_\\-.]*$');

const TopLevel = z.strictObject({
  models: z.record(nodeName, z.unknown()).nullable().optional(),
  dag: z.record(nodeName, z.array(z.string().nullable()).nullable()),
});

const ModelEntry = z.strictObject({
  url: z.string().min(1),
  ...Object.fromEntries(Object.entries(SETTINGS).map(([key, [, schema]]) => [key, schema.optional()])),
});

/**
 * The error of every invalid spec: TorchServe's 400 "Invalid workflow specification", with the
 * reason after it.
 * @example throw invalidWorkflowSpec("node 'x' is neither a model of the spec nor a handler function");
 */
export function invalidWorkflowSpec(reason: string, cause?: unknown): KilnError {
  return new KilnError('KILN_SERVE_WORKFLOW_INVALID', `Invalid workflow specification: ${reason}`, cause === undefined ? {} : { cause });
}

function check<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw invalidWorkflowSpec(describeIssue(parsed.error, { within: where }));
  return parsed.data;
}

function settingsFrom(entry: Readonly<Record<string, unknown>>, base: WorkflowNodeSettings, where: string): WorkflowNodeSettings {
  const settings: Record<string, number> = { ...base };
  for (const [key, [field]] of Object.entries(SETTINGS)) {
    if (entry[key] !== undefined) settings[field] = entry[key] as number;
  }
  if (settings['maxWorkers']! < settings['minWorkers']!) {
    throw invalidWorkflowSpec(`${where}: max-workers (${settings['maxWorkers']}) is less than min-workers (${settings['minWorkers']})`);
  }
  return Object.freeze(settings as unknown as WorkflowNodeSettings);
}

/**
 * Parses a workflow spec's YAML (plain data only: no tags, no merge keys) into a frozen
 * {@link WorkflowSpec}. Settings at the `models:` level apply to every model whatever their
 * order (TorchServe applies them only to models listed after them). Models the DAG does not name
 * are ignored, as TorchServe ignores them. Throws `KILN_SERVE_WORKFLOW_INVALID`.
 */
export function parseWorkflowSpec(text: string, source = 'workflow spec'): WorkflowSpec {
  const data = loadPlainYaml(text, (reason, cause) => invalidWorkflowSpec(`${source}: ${reason}`, cause));
  refuseProtoKeys(data, '');
  const top = check(TopLevel, data ?? {}, '');
  const entries = Object.entries(top.models ?? {});
  const globals: Record<string, unknown> = {};
  for (const [key, value] of entries) {
    if (Object.hasOwn(SETTINGS, key)) globals[key] = check(SETTINGS[key]![1], value, `models.${key}`);
  }
  const defaults = settingsFrom(globals, WORKFLOW_DEFAULTS, 'models');
  const models = new Map<string, WorkflowModelSpec>();
  for (const [key, value] of entries) {
    if (Object.hasOwn(SETTINGS, key)) continue;
    const name = check(nodeName, key, `models.${key}`);
    const entry = check(ModelEntry, value, `models.${key}`) as Record<string, unknown> & { url: string };
    models.set(name, Object.freeze({ url: entry.url, ...settingsFrom(entry, defaults, `models.${key}`) }));
  }
  const edges = Object.entries(top.dag).map(([from, to]): [string, string[]] => [
    from,
    // TorchServe skips empty entries (`m: [a, ]`).
    (to ?? []).filter((name): name is string => name !== null && name.trim() !== '').map((name) => check(nodeName, name, `dag.${from}`)),
  ]);
  return Object.freeze({ defaults, models, dag: buildDag(edges) });
}

/** zod drops a `__proto__` key without a word; a spec that has one is refused instead. */
function refuseProtoKeys(value: unknown, where: string): void {
  if (!value || typeof value !== 'object') return;
  if (Object.hasOwn(value, '__proto__')) throw invalidWorkflowSpec(`${where || 'the top level'}: the key __proto__ is not allowed`);
  for (const [key, inner] of Object.entries(value)) refuseProtoKeys(inner, where ? `${where}.${key}` : key);
}

/**
 * Builds and checks a DAG from `node → nodes it feeds` edges: no node feeds itself, exactly
 * one node has no parent, and there is no cycle (every node can run). Duplicate edges count once.
 */
export function buildDag(edges: readonly (readonly [string, readonly string[]])[]): WorkflowDag {
  const children = new Map<string, string[]>();
  const parents = new Map<string, string[]>();
  const add = (node: string) => {
    if (!children.has(node)) {
      children.set(node, []);
      parents.set(node, []);
    }
  };
  for (const [from, targets] of edges) {
    add(from);
    for (const to of targets) {
      if (to === from) throw invalidWorkflowSpec(`dag: node '${from}' feeds itself`);
      add(to);
      if (children.get(from)!.includes(to)) continue;
      children.get(from)!.push(to);
      parents.get(to)!.push(from);
    }
  }
  const nodes = [...children.keys()];
  const starts = nodes.filter((node) => parents.get(node)!.length === 0);
  if (starts.length === 0 && nodes.length > 0) {
    throw invalidWorkflowSpec(`dag: a workflow needs exactly one start node (one that no node feeds), found none: it has a cycle (${findCycle(nodes, parents).join(' → ')})`);
  }
  if (starts.length !== 1) {
    const found = starts.length === 0 ? 'none' : `${starts.length}: ${starts.join(', ')}`;
    throw invalidWorkflowSpec(`dag: a workflow needs exactly one start node (one that no node feeds), found ${found}`);
  }
  const order = topologicalOrder(nodes, children, parents);
  return Object.freeze({
    start: starts[0]!,
    order: Object.freeze(order),
    children: freezeLists(children),
    parents: freezeLists(parents),
    leaves: Object.freeze(nodes.filter((node) => children.get(node)!.length === 0)),
    declared: Object.freeze(edges.map(([from, to]) => Object.freeze([from, Object.freeze([...to])] as const))),
  });
}

/** Kahn's algorithm; a node left over sits on or behind a cycle, which the error spells out. */
function topologicalOrder(nodes: readonly string[], children: ReadonlyMap<string, string[]>, parents: ReadonlyMap<string, string[]>): string[] {
  const waiting = new Map(nodes.map((node) => [node, parents.get(node)!.length]));
  const ready = nodes.filter((node) => waiting.get(node) === 0);
  const order: string[] = [];
  while (ready.length > 0) {
    const node = ready.shift()!;
    order.push(node);
    for (const child of children.get(node)!) {
      const left = waiting.get(child)! - 1;
      waiting.set(child, left);
      if (left === 0) ready.push(child);
    }
  }
  if (order.length === nodes.length) return order;
  const done = new Set(order);
  throw invalidWorkflowSpec(`dag: it has a cycle (${findCycle(nodes.filter((node) => !done.has(node)), parents).join(' → ')})`);
}

/** Every left-over node has a left-over parent, so walking parents must come back round. */
function findCycle(left: readonly string[], parents: ReadonlyMap<string, string[]>): string[] {
  const inLeft = new Set(left);
  const seenAt = new Map<string, number>();
  const path: string[] = [];
  let node = left[0]!;
  while (!seenAt.has(node)) {
    seenAt.set(node, path.length);
    path.push(node);
    node = parents.get(node)!.find((parent) => inLeft.has(parent))!;
  }
  return [...path.slice(seenAt.get(node)!), node].reverse();
}

function freezeLists(map: Map<string, string[]>): ReadonlyMap<string, readonly string[]> {
  for (const list of map.values()) Object.freeze(list);
  return map;
}

/**
 * The `dag:` section as TorchServe's describe prints `workflowDag` (the YAML map's Java
 * toString): `{pre=[m1, m2], m1=[agg], m2=[agg]}`.
 */
export function formatWorkflowDag(dag: WorkflowDag): string {
  return `{${dag.declared.map(([node, to]) => `${node}=[${to.join(', ')}]`).join(', ')}}`;
}
