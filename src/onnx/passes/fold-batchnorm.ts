/**
 * fold-batchnorm: folds an inference BatchNormalization into the Conv, ConvTranspose, Gemm or
 * MatMul (constant 2-D B) that alone feeds it, so the quantizer sees one weighted op with the
 * BN's scale inside its per-channel weights instead of a float BN it cannot quantize.
 * Skipped: training_mode=1, parameters or weights that are not constant float32, a producer
 * output read by anyone else, a MatMul whose output is not 2-D. A weight or bias shared with
 * other nodes is copied under a new name, never changed in place.
 */
import { makeNode } from '../build.js';
import { DataType } from '../dtype.js';
import type { ModelProto, NodeProto, TensorProto } from '../gen/onnx_pb.js';
import { decodeTensor, encodeTensor } from '../tensor.js';
import { copyNode, floatAttribute, intAttribute, isOnnxOp, nodeLabel } from './attributes.js';
import { channelAffine, foldedBias, scaleColumns, scaleRows, scaleTransposedConv, type ChannelAffine } from './batchnorm-math.js';
import { NameAllocator, constantInitializers, pruneValueInfo, rebuildGraph, unusedInitializers, valueUses, withGraph } from './graph-tools.js';
import { inferShapes, type ShapeInfo } from './infer-shapes.js';
import { unchanged, type PassResult } from './types.js';

/** A float32 constant, decoded. */
interface FloatConstant {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** What folding one BN into its producer yields. */
interface Fold {
  readonly weight: Float32Array;
  readonly bias: Float32Array;
  readonly biasDims: readonly number[];
  /** Attributes to set on the producer (Gemm's beta). */
  readonly attributes?: Readonly<Record<string, number>>;
}

function gemmFold(producer: NodeProto, weight: FloatConstant, bias: FloatConstant | undefined, affine: ChannelAffine): Fold | undefined {
  const channels = affine.k.length;
  const transB = intAttribute(producer, 'transB', 0) === 1;
  if (weight.dims.length !== 2 || weight.dims[transB ? 0 : 1] !== channels) return undefined;
  const beta = floatAttribute(producer, 'beta', 1);
  const scaled = transB ? scaleRows(weight.data, weight.dims, affine.k) : scaleColumns(weight.data, weight.dims, affine.k);
  const dims = bias?.dims ?? [];
  // C broadcasts to [M, N]; a C that varies along M keeps its rows.
  const rows = dims.length === 2 && dims[0] !== 1 ? dims[0]! : 0;
  if (rows === 0) {
    if (bias && bias.data.length !== 1 && bias.data.length !== channels) return undefined;
    const perChannel = bias ? Float64Array.from({ length: channels }, (_, n) => beta * bias.data[bias.data.length === 1 ? 0 : n]!) : undefined;
    return { weight: scaled, bias: foldedBias(affine, perChannel), biasDims: [channels], attributes: { beta: 1 } };
  }
  if (dims[1] !== 1 && dims[1] !== channels) return undefined;
  const values = new Float32Array(rows * channels);
  for (let m = 0; m < rows; m++) {
    for (let n = 0; n < channels; n++) {
      const c = bias!.data[dims[1] === 1 ? m : m * channels + n]!;
      values[m * channels + n] = beta * c * affine.k[n]! + affine.shift[n]!;
    }
  }
  return { weight: scaled, bias: values, biasDims: [rows, channels], attributes: { beta: 1 } };
}

function foldInto(
  producer: NodeProto,
  weight: FloatConstant,
  bias: FloatConstant | undefined,
  affine: ChannelAffine,
  rankOf: (name: string) => number | undefined,
): Fold | undefined {
  const channels = affine.k.length;
  if (bias && producer.opType !== 'Gemm' && bias.data.length !== channels) return undefined;
  switch (producer.opType) {
    case 'Conv':
      if (weight.dims[0] !== channels) return undefined;
      return { weight: scaleRows(weight.data, weight.dims, affine.k), bias: foldedBias(affine, bias?.data), biasDims: [channels] };
    case 'ConvTranspose': {
      const group = intAttribute(producer, 'group', 1);
      if (weight.dims.length < 3 || weight.dims[1]! * group !== channels || weight.dims[0]! % group !== 0) return undefined;
      return { weight: scaleTransposedConv(weight.data, weight.dims, group, affine.k), bias: foldedBias(affine, bias?.data), biasDims: [channels] };
    }
    case 'Gemm':
      return gemmFold(producer, weight, bias, affine);
    case 'MatMul':
      // BN normalizes axis 1, which is B's output columns only when the product is 2-D.
      if (weight.dims.length !== 2 || weight.dims[1] !== channels || rankOf(producer.input[0] ?? '') !== 2) return undefined;
      return { weight: scaleColumns(weight.data, weight.dims, affine.k), bias: foldedBias(affine, undefined), biasDims: [channels] };
    default:
      return undefined;
  }
}

const FOLDABLE = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

/**
 * Folds every foldable BatchNormalization of the main graph; `changes` is the number folded,
 * notes say why others were kept.
 * @example foldBatchNorm(model).model.graph!.node.some((n) => n.opType === 'BatchNormalization') // false
 */
export function foldBatchNorm(model: ModelProto): PassResult {
  const graph = model.graph;
  if (!graph) return unchanged(model);
  const constants = constantInitializers(model, graph);
  const uses = valueUses(graph);
  const graphOutputs = new Set(graph.output.map((output) => output.name));
  const producers = new Map<string, NodeProto>();
  for (const node of graph.node) for (const output of node.output) if (output) producers.set(output, node);
  const names = new NameAllocator(graph);
  let shapes: ShapeInfo | undefined;
  const rankOf = (name: string) => (shapes ??= inferShapes(graph)).rank(name);
  const floatConstant = (name: string | undefined): FloatConstant | undefined => {
    const tensor = name ? constants.get(name) : undefined;
    if (!tensor || tensor.dataType !== DataType.FLOAT) return undefined;
    const decoded = decodeTensor(tensor);
    return { name: tensor.name, dims: decoded.dims, data: decoded.data as Float32Array };
  };
  /** The only reader of `name` is `node` (once), and it is no graph output. */
  const ownedBy = (name: string, node: NodeProto) =>
    !graphOutputs.has(name) && (uses.get(name) ?? []).every((user) => user === node) && node.input.filter((input) => input === name).length === 1;

  const replace = new Map<NodeProto, readonly NodeProto[]>();
  const added: TensorProto[] = [];
  /** Initializers rewritten under their own name (removed, then added again). */
  const rewritten = new Set<string>();
  /** Initializers the folds stopped reading; removed at the end if nothing else does. */
  const released = new Set<string>();
  const skipped: string[] = [];
  for (const bn of graph.node) {
    if (!isOnnxOp(bn, 'BatchNormalization')) continue;
    const skip = (reason: string) => skipped.push(`${nodeLabel(bn)}: ${reason}`);
    const x = bn.input[0] ?? '';
    const producer = producers.get(x);
    if (!producer || !isOnnxOp(producer) || !FOLDABLE.has(producer.opType) || producer.output[0] !== x) continue;
    if (intAttribute(bn, 'training_mode', 0) === 1) {
      skip('training_mode=1');
      continue;
    }
    if (intAttribute(bn, 'spatial', 1) !== 1 || bn.output.slice(1).some((output) => output && (uses.has(output) || graphOutputs.has(output)))) {
      skip('per-activation statistics or training outputs');
      continue;
    }
    if (graphOutputs.has(x) || (uses.get(x) ?? []).length !== 1) {
      skip(`${producer.opType} output '${x}' has other readers`);
      continue;
    }
    const params = bn.input.slice(1, 5).map(floatConstant);
    const weight = floatConstant(producer.input[1]);
    const biasName = producer.opType === 'MatMul' ? '' : (producer.input[2] ?? '');
    const bias = biasName ? floatConstant(biasName) : undefined;
    if (params.length !== 4 || params.some((param) => !param) || !weight || (biasName && !bias)) {
      skip('parameters, weight or bias are not constant float32');
      continue;
    }
    const [gamma, beta, mean, variance] = params as [FloatConstant, FloatConstant, FloatConstant, FloatConstant];
    if (![beta, mean, variance].every((param) => param.data.length === gamma.data.length)) continue;
    const affine = channelAffine(gamma.data, beta.data, mean.data, variance.data, floatAttribute(bn, 'epsilon', 1e-5));
    const fold = foldInto(producer, weight, bias, affine, rankOf);
    if (!fold) {
      skip(`its channels do not match the ${producer.opType} weight`);
      continue;
    }
    const base = producer.name || x;
    const store = (old: FloatConstant | undefined, fallback: string, dims: readonly number[], data: Float32Array) => {
      const inPlace = old !== undefined && ownedBy(old.name, producer);
      const name = inPlace ? old.name : names.fresh(old ? `${old.name}_folded` : fallback);
      if (inPlace) rewritten.add(old.name);
      added.push(encodeTensor({ name, dataType: DataType.FLOAT, dims, data }));
      return name;
    };
    const weightName = store(weight, `${base}_weight`, weight.dims, fold.weight);
    const newBias = store(bias, `${base}_bias`, fold.biasDims, fold.bias);
    const output = bn.output[0] ?? '';
    if (producer.opType === 'MatMul') {
      const product = names.fresh(`${base}_product`);
      replace.set(producer, [
        copyNode(producer, { input: [producer.input[0] ?? '', weightName], output: [product] }),
        makeNode('Add', [product, newBias], [output], { name: names.fresh(`${base}_bias_add`) }),
      ]);
    } else {
      const inputs = [producer.input[0] ?? '', weightName, newBias];
      replace.set(producer, [copyNode(producer, { input: inputs, output: [output], ...(fold.attributes ? { setAttributes: fold.attributes } : {}) })]);
    }
    replace.set(bn, []);
    for (const name of [weight.name, bias?.name, ...bn.input.slice(1)]) if (name && !rewritten.has(name)) released.add(name);
  }
  const folded = [...replace.keys()].filter((node) => node.opType === 'BatchNormalization').length;
  const notes = skipped.map((line) => `kept BatchNormalization ${line}`);
  if (folded === 0) return unchanged(model, notes);
  let next = rebuildGraph(graph, { replace, addInitializers: added, removeInitializers: rewritten });
  const orphans = unusedInitializers(next, released);
  if (orphans.length > 0) next = rebuildGraph(next, { removeInitializers: orphans });
  return { model: withGraph(model, pruneValueInfo(next)), changes: folded, notes };
}
