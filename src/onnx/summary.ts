import { dtypeInfo, dtypeName, rawByteLength } from './dtype.js';
import type { ModelProto } from './gen/onnx_pb.js';
import { valueTypeOf, type Dim } from './graph.js';
import { elementCount } from './tensor.js';
import { allGraphs, allTensors } from './walk.js';

/** A graph input or output as `kiln inspect` reports it. */
export interface SignatureEntry {
  readonly name: string;
  readonly type: string;
  /** Numbers for fixed dims, names for symbolic ones, null for unknown. */
  readonly shape: readonly (number | string | null)[] | null;
}

/** What `kiln inspect` prints about a model. */
export interface ModelSummary {
  readonly irVersion: number;
  readonly producer: string;
  readonly opsets: readonly { readonly domain: string; readonly version: number }[];
  readonly inputs: readonly SignatureEntry[];
  readonly outputs: readonly SignatureEntry[];
  readonly nodeCount: number;
  /** Node count per op type (domain-qualified outside ONNX), most frequent first. */
  readonly ops: readonly { readonly op: string; readonly count: number }[];
  /** Elements in stored tensors: initializers and Constant values, subgraphs included. */
  readonly parameters: number;
  readonly tensorCount: number;
  /** Stored tensor bytes per element type. */
  readonly bytesByType: readonly { readonly type: string; readonly tensors: number; readonly bytes: number }[];
  readonly externalDataFiles: readonly string[];
}

function signature(graph: ModelProto['graph'], which: 'input' | 'output'): SignatureEntry[] {
  if (!graph) return [];
  const initializers = new Set(graph.initializer.map((tensor) => tensor.name));
  return graph[which]
    .filter((info) => which === 'output' || !initializers.has(info.name))
    .map((info) => {
      const type = valueTypeOf(info);
      return {
        name: info.name,
        type: type ? dtypeName(type.dataType) : 'non-tensor',
        shape: type?.shape ? type.shape.map((dim: Dim) => dim ?? null) : null,
      };
    });
}

/** Summarizes a model's signature, ops and stored tensors. */
export function summarizeModel(model: ModelProto, externalDataFiles: readonly string[] = []): ModelSummary {
  const histogram = new Map<string, number>();
  let nodeCount = 0;
  for (const graph of allGraphs(model)) {
    for (const node of graph.node) {
      nodeCount++;
      const op = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}.${node.opType}` : node.opType;
      histogram.set(op, (histogram.get(op) ?? 0) + 1);
    }
  }
  let parameters = 0;
  let tensorCount = 0;
  const byType = new Map<string, { tensors: number; bytes: number }>();
  for (const { tensor } of allTensors(model)) {
    const elements = elementCount(tensor.dims);
    const info = dtypeInfo(tensor.dataType);
    const bytes = info && info.array !== 'string' ? rawByteLength(info, elements) : tensor.stringData.reduce((n, s) => n + s.length, 0);
    parameters += elements;
    tensorCount++;
    const key = dtypeName(tensor.dataType);
    const entry = byType.get(key) ?? { tensors: 0, bytes: 0 };
    entry.tensors++;
    entry.bytes += bytes;
    byType.set(key, entry);
  }
  return {
    irVersion: Number(model.irVersion),
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    opsets: model.opsetImport.map((opset) => ({ domain: opset.domain || 'ai.onnx', version: Number(opset.version) })),
    inputs: signature(model.graph, 'input'),
    outputs: signature(model.graph, 'output'),
    nodeCount,
    ops: [...histogram].map(([op, count]) => ({ op, count })).sort((a, b) => b.count - a.count || a.op.localeCompare(b.op)),
    parameters,
    tensorCount,
    bytesByType: [...byType].map(([type, v]) => ({ type, ...v })).sort((a, b) => b.bytes - a.bytes),
    externalDataFiles: [...externalDataFiles],
  };
}
