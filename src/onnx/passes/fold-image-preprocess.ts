/**
 * fold-image-preprocess: prepends an image description's arithmetic to a model, so a server
 * feeds the 8-bit pixels it decoded (uint8 `[N, H, W, C]`, interleaved, source colours) and
 * onnxruntime does the normalization vectorized, moving a quarter of the bytes a float tensor
 * would. The prepended nodes compute, per tensor channel c,
 * `float(pixel[order[c]]) · (scale / std[c]) + (−mean[c] / std[c])`, with the same two float32
 * constants the image module's normalize loop uses, in the model's layout:
 *
 *   pixels(uint8 NHWC) → [Gather(channel axis, [2, 1, 0]) if bgr] → [Transpose if nchw] → Cast(float) → Mul(gain) → Add(offset)
 *
 * The new input keeps the old input's name, so feeds, OIP metadata and clients keep naming it
 * the same; its type says what it now takes. Padding is not folded (it lives in normalized
 * space and depends on the image), so only fixed-size, unpadded descriptions should be folded;
 * the caller decides that. This module takes plain numbers (it may not import the image module).
 */
import { create } from '@bufbuild/protobuf';
import { KilnError } from '../../core/errors.js';
import { makeNode, makeValueInfo } from '../build.js';
import { shallowCopy } from '../edit.js';
import { DataType } from '../dtype.js';
import { FOLDED_PREPROCESS_KEY } from '../metadata-keys.js';
import { GraphProtoSchema, StringStringEntryProtoSchema, type GraphProto, type ModelProto, type NodeProto, type ValueInfoProto } from '../gen/onnx_pb.js';
import { opsetVersion, valueTypeOf, type Dim } from '../graph.js';
import { encodeTensor } from '../tensor.js';
import { NameAllocator, rebuildGraph, renameInputs, unusedInitializers, valueUses, withGraph } from './graph-tools.js';
import type { PassResult } from './types.js';

/** The description to fold, as plain numbers (the image module's ImagePreprocess fields). */
export interface FoldImagePreprocessOptions {
  /** The model input's layout: `nchw` (`[N, C, H, W]`) or `nhwc` (`[N, H, W, C]`). */
  readonly layout: 'nchw' | 'nhwc';
  /** `bgr` reverses the source RGB bands; `gray` takes one band. */
  readonly channelOrder: 'rgb' | 'bgr' | 'gray';
  /** Multiplies the 8-bit values first. */
  readonly scale: number;
  /** Per TENSOR channel (after the reorder), one value per channel. */
  readonly mean: readonly number[];
  readonly std: readonly number[];
  /** The input to fold in front of. @defaultValue the first graph input that is not an initializer */
  readonly input?: string;
}

export { FOLDED_PREPROCESS_KEY };

/** The first opset where Mul/Add broadcast numpy-style (and Cast takes an int `to`). */
const MIN_OPSET = 7;

function refuse(message: string, details: Record<string, unknown> = {}): KilnError {
  return new KilnError('KILN_ONNX_FOLD_UNSUPPORTED', `cannot fold the image preprocessing into the model: ${message}`, { details });
}

/** Per-channel `[gain, offset]`, computed exactly as the image module's normalize loop does. */
export function foldedGainOffset(options: Pick<FoldImagePreprocessOptions, 'scale' | 'mean' | 'std'>, channels: number): { gain: Float32Array; offset: Float32Array } {
  const gain = new Float32Array(channels);
  const offset = new Float32Array(channels);
  for (let channel = 0; channel < channels; channel++) {
    gain[channel] = options.scale / options.std[channel]!;
    offset[channel] = -options.mean[channel]! / options.std[channel]!;
  }
  return { gain, offset };
}

function imageInput(graph: GraphProto, wanted: string | undefined): ValueInfoProto {
  const initializers = new Set(graph.initializer.map((tensor) => tensor.name));
  const input = wanted === undefined ? graph.input.find((info) => !initializers.has(info.name)) : graph.input.find((info) => info.name === wanted);
  if (!input) throw refuse(wanted === undefined ? 'the model has no input' : `the model has no input '${wanted}'`);
  if (initializers.has(input.name)) throw refuse(`input '${input.name}' is an initializer`);
  if (graph.output.some((output) => output.name === input.name)) throw refuse(`input '${input.name}' is also a graph output`);
  return input;
}

/** The input's `[batch, height, width, channels]`, or a refusal naming what does not fit. */
function checkedShape(input: ValueInfoProto, options: FoldImagePreprocessOptions): [Dim, number, number, number] {
  const type = valueTypeOf(input);
  const shape = type?.shape;
  if (!type || type.dataType !== DataType.FLOAT || !shape || shape.length !== 4) {
    throw refuse(`input '${input.name}' is not a float32 tensor of rank 4 (${type?.dtype?.name ?? 'unknown type'}, ${shape ? `[${shape.join(', ')}]` : 'unknown shape'})`, { input: input.name });
  }
  const [batch, a, b, c] = shape;
  const [channels, height, width] = options.layout === 'nchw' ? [a, b, c] : [c, a, b];
  const wanted = options.channelOrder === 'gray' ? 1 : 3;
  if (channels !== wanted) throw refuse(`input '${input.name}' has ${channels ?? 'an unknown number of'} channels where ${options.layout} ${options.channelOrder} needs ${wanted}`, { input: input.name });
  if (typeof height !== 'number' || typeof width !== 'number' || height <= 0 || width <= 0) {
    throw refuse(`input '${input.name}' has no fixed height and width ([${shape.map((dim) => dim ?? '?').join(', ')}])`, { input: input.name });
  }
  for (const key of ['mean', 'std'] as const) {
    if (options[key].length !== wanted) throw refuse(`${key} has ${options[key].length} values for ${wanted} channels`);
  }
  return [batch, height, width, wanted];
}

/**
 * Returns a new model whose image input takes uint8 `[N, H, W, C]` pixels (see the module
 * comment); `changes` is the number of nodes prepended.
 * @throws KilnError `KILN_ONNX_FOLD_UNSUPPORTED` when the input is not float32 rank 4 with 1 or 3
 *   channels (as `layout` and `channelOrder` say) and a fixed height and width, or the opset is below 7.
 * @example foldImagePreprocess(model, { layout: 'nchw', channelOrder: 'rgb', scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] })
 */
export function foldImagePreprocess(model: ModelProto, options: FoldImagePreprocessOptions): PassResult {
  const graph = model.graph;
  if (!graph) throw refuse('the model has no graph');
  const opset = opsetVersion(model);
  if (opset === undefined || opset < MIN_OPSET) throw refuse(`the model imports ONNX opset ${opset ?? 'none'}; folding needs ${MIN_OPSET} or later`, { opset });
  const input = imageInput(graph, options.input);
  const [batch, height, width, channels] = checkedShape(input, options);
  const names = new NameAllocator(graph);
  const base = input.name;
  const { gain, offset } = foldedGainOffset(options, channels);
  const constantDims = options.layout === 'nchw' ? [channels, 1, 1] : [channels];
  const gainName = names.fresh(`${base}_fold_gain`);
  const offsetName = names.fresh(`${base}_fold_offset`);
  const initializers = [
    encodeTensor({ name: gainName, dataType: DataType.FLOAT, dims: constantDims, data: gain }),
    encodeTensor({ name: offsetName, dataType: DataType.FLOAT, dims: constantDims, data: offset }),
  ];
  const nodes = [];
  // Reorder and transpose while the values are bytes (a quarter of the memory traffic), then
  // normalize planes: with NCHW the per-channel constants broadcast as [C, 1, 1], one scalar per
  // plane, which onnxruntime runs much faster than a 3-wide innermost broadcast.
  let current = base;
  if (options.channelOrder === 'bgr') {
    const indices = names.fresh(`${base}_fold_bgr_indices`);
    initializers.push(encodeTensor({ name: indices, dataType: DataType.INT64, dims: [3], data: BigInt64Array.from([2n, 1n, 0n]) }));
    const reordered = names.fresh(`${base}_fold_bgr`);
    nodes.push(makeNode('Gather', [current, indices], [reordered], { name: names.fresh(`${base}_fold_reorder`), attributes: { axis: 3 } }));
    current = reordered;
  }
  if (options.layout === 'nchw') {
    const transposed = names.fresh(`${base}_fold_nchw`);
    nodes.push(makeNode('Transpose', [current], [transposed], { name: names.fresh(`${base}_fold_transpose`), attributes: { perm: [0, 3, 1, 2] } }));
    current = transposed;
  }
  const float = names.fresh(`${base}_fold_float`);
  nodes.push(makeNode('Cast', [current], [float], { name: names.fresh(`${base}_fold_cast`), attributes: { to: DataType.FLOAT } }));
  const scaled = names.fresh(`${base}_fold_scaled`);
  nodes.push(makeNode('Mul', [float, gainName], [scaled], { name: names.fresh(`${base}_fold_mul`) }));
  current = names.fresh(`${base}_fold_normalized`);
  nodes.push(makeNode('Add', [scaled, offsetName], [current], { name: names.fresh(`${base}_fold_add`) }));
  const normalized = current;
  const next = shallowCopy(GraphProtoSchema, graph);
  next.node = [...nodes, ...graph.node.map((node) => renameInputs(node, (name) => (name === base ? normalized : name)))];
  next.input = graph.input.map((info) => (info === input ? makeValueInfo(base, DataType.UINT8, [batch, height, width, channels]) : info));
  next.initializer = [...graph.initializer, ...initializers];
  next.valueInfo = graph.valueInfo.filter((info) => info.name !== base);
  const folded = withGraph(model, next);
  const { input: _input, ...recorded } = options;
  folded.metadataProps = [
    ...model.metadataProps.filter((entry) => entry.key !== FOLDED_PREPROCESS_KEY),
    create(StringStringEntryProtoSchema, { key: FOLDED_PREPROCESS_KEY, value: JSON.stringify({ ...recorded, input: base }) }),
  ];
  return { model: folded, changes: nodes.length, notes: [`input '${base}' now takes uint8 [${[batch ?? '?', height, width, channels].join(', ')}] pixels`] };
}

/** The options a folded model was folded with, from its metadata; undefined for a model kiln did not fold. */
export function foldedPreprocessOf(model: ModelProto): Required<FoldImagePreprocessOptions> | undefined {
  const entry = model.metadataProps.find((prop) => prop.key === FOLDED_PREPROCESS_KEY);
  if (!entry) return undefined;
  let recorded: Partial<Record<keyof FoldImagePreprocessOptions, unknown>>;
  try {
    recorded = JSON.parse(entry.value) as typeof recorded;
  } catch {
    throw refuse(`its ${FOLDED_PREPROCESS_KEY} metadata is not JSON`);
  }
  const { layout, channelOrder, scale, mean, std, input } = recorded;
  const numbers = (value: unknown): value is number[] => Array.isArray(value) && value.every((item) => typeof item === 'number');
  if (
    (layout !== 'nchw' && layout !== 'nhwc') ||
    (channelOrder !== 'rgb' && channelOrder !== 'bgr' && channelOrder !== 'gray') ||
    typeof scale !== 'number' ||
    !numbers(mean) ||
    !numbers(std) ||
    typeof input !== 'string'
  ) {
    throw refuse(`its ${FOLDED_PREPROCESS_KEY} metadata does not describe a folded preprocessing (${entry.value.slice(0, 120)})`);
  }
  return { layout, channelOrder, scale, mean, std, input };
}

/**
 * Undoes {@link foldImagePreprocess}: the model as it was before folding (its input float32 in
 * its layout again, the prepended nodes and constants gone, the metadata entry dropped), and the
 * options to fold it again with. Quantizing a folded model goes through this: calibration and
 * the quantizer see the float model, and the result is folded again with the same options.
 * Undefined for a model kiln did not fold.
 * @throws KilnError `KILN_ONNX_FOLD_UNSUPPORTED` when the metadata says folded but the graph does not start with the folded nodes.
 */
export function unfoldImagePreprocess(model: ModelProto): { model: ModelProto; options: Required<FoldImagePreprocessOptions> } | undefined {
  const options = foldedPreprocessOf(model);
  if (!options) return undefined;
  const graph = model.graph;
  if (!graph) throw refuse('the model has no graph');
  const base = options.input;
  const broken = (why: string) => refuse(`the model's metadata says its preprocessing is folded in front of '${base}', but ${why}`);
  const input = graph.input.find((info) => info.name === base);
  const shape = input && valueTypeOf(input)?.shape;
  if (!input || valueTypeOf(input)?.dataType !== DataType.UINT8 || shape?.length !== 4) throw broken('that input is not uint8 of rank 4');
  const expected = [...(options.channelOrder === 'bgr' ? ['Gather'] : []), ...(options.layout === 'nchw' ? ['Transpose'] : []), 'Cast', 'Mul', 'Add'];
  const uses = valueUses(graph);
  const outputs = new Set(graph.output.map((output) => output.name));
  const chain: NodeProto[] = [];
  let current = base;
  for (const opType of expected) {
    const readers = uses.get(current) ?? [];
    const node = readers[0];
    if (readers.length !== 1 || outputs.has(current) || node!.opType !== opType || node!.output.length !== 1) {
      throw broken(`'${current}' does not feed one ${opType} node`);
    }
    chain.push(node!);
    current = node!.output[0]!;
  }
  const normalized = current;
  const constants = chain.flatMap((node) => node.input.slice(1));
  const [batch, height, width, channels] = shape;
  const rest = shallowCopy(GraphProtoSchema, graph);
  rest.node = graph.node.filter((node) => !chain.includes(node)).map((node) => renameInputs(node, (name) => (name === normalized ? base : name)));
  rest.input = graph.input.map((info) => (info === input ? makeValueInfo(base, DataType.FLOAT, options.layout === 'nchw' ? [batch, channels, height, width] : [batch, height, width, channels]) : info));
  const unfolded = withGraph(model, rebuildGraph(rest, { removeInitializers: unusedInitializers(rest, constants) }));
  unfolded.metadataProps = model.metadataProps.filter((entry) => entry.key !== FOLDED_PREPROCESS_KEY);
  return { model: unfolded, options };
}
