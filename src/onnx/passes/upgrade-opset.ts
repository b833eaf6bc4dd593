/**
 * upgrade-opset: moves a model's ai.onnx opset up (to 13 by default, the first with per-axis
 * QuantizeLinear/DequantizeLinear), converting every node whose schema changed on the way.
 * Just rewriting the opset number would change what some nodes mean (Softmax) or make them
 * invalid (Clip with attributes), so each change is either known to be compatible
 * (`opset-table.ts`), converted (`opset-converters.ts`), or refused with
 * `KILN_ONNX_OPSET_UNSUPPORTED`. Subgraphs (If/Loop/Scan bodies) are converted too.
 */
import { create } from '@bufbuild/protobuf';
import { KilnError } from '../../core/errors.js';
import { shallowCopy } from '../edit.js';
import {
  AttributeProtoSchema,
  ModelProtoSchema,
  OperatorSetIdProtoSchema,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from '../gen/onnx_pb.js';
import { ONNX_DOMAIN, opsetVersion } from '../graph.js';
import { decodeTensor, encodeTensor } from '../tensor.js';
import { copyNode, isOnnxOp } from './attributes.js';
import { constantNodeValue } from './constant-value.js';
import { NameAllocator, constantInitializers, rebuildGraph, subgraphsOf, valueUses } from './graph-tools.js';
import { inferShapes, type ShapeInfo } from './infer-shapes.js';
import { unsupportedUpgrade, type ConvertContext, type OpConverter } from './opset-context.js';
import { CONVERTERS } from './opset-converters.js';
import { MIN_SOURCE_OPSET, TABLE_MAX_OPSET, isCompatibleChange, isKnownOp, minimumIrVersion, schemaChanges, schemaVersion } from './opset-table.js';
import { unchanged, type PassResult } from './types.js';

/** The opset {@link upgradeOpset} moves to unless told otherwise. @defaultValue 13 */
export const DEFAULT_TARGET_OPSET = 13;

/** What one upgrade run shares across the main graph and its subgraphs. */
interface UpgradeRun {
  readonly model: ModelProto;
  readonly source: number;
  readonly target: number;
  readonly names: NameAllocator;
  /** Converted nodes by op type, for the notes. */
  readonly counts: Map<string, number>;
}

/** The converter a node needs, undefined when all its changes are compatible; throws otherwise. */
function converterFor(node: NodeProto, source: number, target: number): OpConverter | undefined {
  const op = node.opType;
  if (!isKnownOp(op)) throw unsupportedUpgrade(node, source, target, `${op} is not an ai.onnx operator kiln knows up to opset ${TABLE_MAX_OPSET}`);
  const own = schemaVersion(op, source);
  if (own === undefined) throw unsupportedUpgrade(node, source, target, `${op} does not exist at opset ${source}`);
  const converter = CONVERTERS.get(op);
  const changes = schemaChanges(op, source, target);
  for (const version of changes) {
    if (!isCompatibleChange(op, version) && !converter?.handles.includes(version)) {
      throw unsupportedUpgrade(node, source, target, `${op}-${own} changed at opset ${version} and kiln has no converter for that change`);
    }
  }
  return changes.some((version) => converter?.handles.includes(version)) ? converter : undefined;
}

function convertSubgraphs(node: NodeProto, run: UpgradeRun, outer: ShapeInfo): NodeProto {
  if (subgraphsOf(node).length === 0) return node;
  let changed = false;
  const attributes = node.attribute.map((attribute) => {
    if (!attribute.g && attribute.graphs.length === 0) return attribute;
    const g = attribute.g ? convertGraph(attribute.g, run, outer) : undefined;
    const graphs = attribute.graphs.map((graph) => convertGraph(graph, run, outer));
    if (g === attribute.g && graphs.every((graph, index) => graph === attribute.graphs[index])) return attribute;
    changed = true;
    const copy = shallowCopy(AttributeProtoSchema, attribute);
    copy.g = g;
    copy.graphs = graphs;
    return copy;
  });
  if (!changed) return node;
  const copy = copyNode(node, {});
  copy.attribute = attributes;
  return copy;
}

function makeContext(graph: GraphProto, run: UpgradeRun, added: TensorProto[], shapes: ShapeInfo): ConvertContext {
  const uses = valueUses(graph);
  const outputs = new Set(graph.output.map((output) => output.name));
  const initializers = constantInitializers(run.model, graph);
  const constantNodes = new Map(graph.node.filter((node) => isOnnxOp(node, 'Constant')).map((node) => [node.output[0] ?? '', node]));
  return {
    source: run.source,
    target: run.target,
    shapes,
    constantValues(name) {
      const tensor = initializers.get(name);
      const constant = constantNodes.get(name);
      const value = tensor ? decodeTensor(tensor) : constant ? constantNodeValue(constant, name) : undefined;
      if (!value || Array.isArray(value.data)) return undefined;
      return Array.from(value.data as ArrayLike<number | bigint>, Number);
    },
    addInitializer(base, dataType, dims, data) {
      const name = run.names.fresh(base);
      added.push(encodeTensor({ name, dataType, dims, data }));
      return name;
    },
    freshName: (base) => run.names.fresh(base),
    isUsed: (name) => uses.has(name) || outputs.has(name),
  };
}

/** The graph with every node converted; the same object when nothing needed converting. */
function convertGraph(graph: GraphProto, run: UpgradeRun, outer?: ShapeInfo): GraphProto {
  const added: TensorProto[] = [];
  const shapes = inferShapes(graph, outer);
  const context = makeContext(graph, run, added, shapes);
  const replace = new Map<NodeProto, readonly NodeProto[]>();
  for (const node of graph.node) {
    const current = convertSubgraphs(node, run, shapes);
    let nodes: readonly NodeProto[] = [current];
    if (isOnnxOp(node)) {
      const converter = converterFor(current, run.source, run.target);
      const converted = converter?.convert(current, context);
      if (converted && (converted.length !== 1 || converted[0] !== current)) {
        nodes = converted;
        run.counts.set(node.opType, (run.counts.get(node.opType) ?? 0) + 1);
      }
    }
    if (nodes.length !== 1 || nodes[0] !== node) replace.set(node, nodes);
  }
  if (replace.size === 0 && added.length === 0) return graph;
  return rebuildGraph(graph, { replace, addInitializers: added });
}

/**
 * Upgrades the model's ai.onnx opset to `target` (7 ≤ target ≤ 13), converting the nodes
 * whose operator changed in between, and raises the IR version to what that opset needs.
 * A model already at or above `target` comes back unchanged. Throws
 * `KILN_ONNX_OPSET_UNSUPPORTED` for a model below opset 7 and for a node whose change kiln
 * cannot convert (naming the op, the node and the versions).
 * @example upgradeOpset(model).model // opset 13
 */
export function upgradeOpset(model: ModelProto, target: number = DEFAULT_TARGET_OPSET): PassResult {
  if (!Number.isInteger(target) || target < MIN_SOURCE_OPSET || target > TABLE_MAX_OPSET) {
    throw new KilnError('KILN_CORE_INVALID_ARGUMENT', `cannot upgrade to opset ${target}: kiln converts to opsets ${MIN_SOURCE_OPSET} to ${TABLE_MAX_OPSET}`);
  }
  const source = opsetVersion(model, ONNX_DOMAIN);
  if (!model.graph || source === undefined || source >= target) return unchanged(model);
  if (source < MIN_SOURCE_OPSET) {
    throw new KilnError(
      'KILN_ONNX_OPSET_UNSUPPORTED',
      `the model imports ai.onnx opset ${source}, too old to upgrade: kiln converts from opset ${MIN_SOURCE_OPSET} (re-export the model with a newer exporter)`,
      { details: { from: source, to: target } },
    );
  }
  const run: UpgradeRun = { model, source, target, names: new NameAllocator(model.graph), counts: new Map() };
  const next = shallowCopy(ModelProtoSchema, model);
  next.graph = convertGraph(model.graph, run);
  next.opsetImport = model.opsetImport.map((opset) =>
    opset.domain === ONNX_DOMAIN || opset.domain === 'ai.onnx' ? create(OperatorSetIdProtoSchema, { domain: opset.domain, version: BigInt(target) }) : opset,
  );
  const ir = BigInt(minimumIrVersion(target));
  if (next.irVersion < ir) next.irVersion = ir;
  const converted = [...run.counts].sort(([a], [b]) => a.localeCompare(b)).map(([op, count]) => `${op}×${count}`);
  const notes = [`ai.onnx opset ${source} → ${target}${converted.length > 0 ? `; converted ${converted.join(', ')}` : ''}`];
  if (next.irVersion !== model.irVersion) notes.push(`IR version ${model.irVersion} → ${next.irVersion}`);
  // Model-local functions declare their own opset imports and are not rewritten.
  if (model.functions.length > 0) notes.push(`${model.functions.length} local function(s) left as they are`);
  const changes = [...run.counts.values()].reduce((sum, count) => sum + count, 0);
  // The opset number itself changed even when no node did: count that as one change.
  return { model: next, changes: Math.max(changes, 1), notes };
}
