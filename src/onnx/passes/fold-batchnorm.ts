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

/** Indexes over the graph that every fold decision reads. */
interface FoldContext {
  readonly uses: ReadonlyMap<string, readonly NodeProto[]>;
  readonly graphOutputs: ReadonlySet<string>;
  readonly producers: ReadonlyMap<string, NodeProto>;
  readonly names: NameAllocator;
  floatConstant(name: string | undefined): FloatConstant | undefined;
  rankOf(name: string): number | undefined;
}

/** A BN that can be folded, with its producer's new weight and bias. */
interface FoldPlan {
  readonly producer: NodeProto;
  readonly weight: FloatConstant;
  readonly bias: FloatConstant | undefined;
  readonly fold: Fold;
}

/** The fold for one BN, or why it stays. */
function planFold(bn: NodeProto, context: FoldContext): FoldPlan | string {
  const x = bn.input[0] ?? '';
  const producer = context.producers.get(x);
  if (!producer || !isOnnxOp(producer) || !FOLDABLE.has(producer.opType) || producer.output[0] !== x) {
    return `its input comes from ${producer ? producer.opType : 'a graph input or initializer'}, not a Conv, ConvTranspose, Gemm or MatMul`;
  }
  if (intAttribute(bn, 'training_mode', 0) === 1) return 'training_mode=1';
  const readsExtra = bn.output.slice(1).some((output) => output && (context.uses.has(output) || context.graphOutputs.has(output)));
  if (intAttribute(bn, 'spatial', 1) !== 1 || readsExtra) return 'per-activation statistics or training outputs';
  if (context.graphOutputs.has(x) || (context.uses.get(x) ?? []).length !== 1) return `${producer.opType} output '${x}' has other readers`;
  const params = bn.input.slice(1, 5).map((name) => context.floatConstant(name));
  const weight = context.floatConstant(producer.input[1]);
  const biasName = producer.opType === 'MatMul' ? '' : (producer.input[2] ?? '');
  const bias = biasName ? context.floatConstant(biasName) : undefined;
  if (params.length !== 4 || params.some((param) => !param) || !weight || (biasName && !bias)) {
    return 'parameters, weight or bias are not constant float32';
  }
  const [gamma, beta, mean, variance] = params as [FloatConstant, FloatConstant, FloatConstant, FloatConstant];
  if (![beta, mean, variance].every((param) => param.data.length === gamma.data.length)) return 'its parameters differ in length';
  const affine = channelAffine(gamma.data, beta.data, mean.data, variance.data, floatAttribute(bn, 'epsilon', 1e-5));
  const fold = foldInto(producer, weight, bias, affine, (name) => context.rankOf(name));
  return fold ? { producer, weight, bias, fold } : `its channels do not match the ${producer.opType} weight`;
}

/** What the folds add up to, applied once at the end. */
interface FoldEdits {
  readonly replace: Map<NodeProto, readonly NodeProto[]>;
  readonly added: TensorProto[];
  /** Initializers rewritten under their own name (removed, then added again). */
  readonly rewritten: Set<string>;
  /** Initializers the folds stopped reading; removed at the end if nothing else does. */
  readonly released: Set<string>;
}

/** Replaces the producer by its folded form writing the BN's output, and drops the BN. */
function applyFold(bn: NodeProto, plan: FoldPlan, context: FoldContext, edits: FoldEdits): void {
  const { producer, weight, bias, fold } = plan;
  const base = producer.name || (producer.output[0] ?? 'folded');
  // A tensor read only by this producer is rewritten under its name; a shared one is copied.
  const store = (old: FloatConstant | undefined, fallback: string, dims: readonly number[], data: Float32Array) => {
    const owned =
      old !== undefined &&
      !context.graphOutputs.has(old.name) &&
      (context.uses.get(old.name) ?? []).every((user) => user === producer) &&
      producer.input.filter((input) => input === old.name).length === 1;
    const name = owned ? old.name : context.names.fresh(old ? `${old.name}_folded` : fallback);
    if (owned) edits.rewritten.add(old.name);
    edits.added.push(encodeTensor({ name, dataType: DataType.FLOAT, dims, data }));
    return name;
  };
  const weightName = store(weight, `${base}_weight`, weight.dims, fold.weight);
  const biasName = store(bias, `${base}_bias`, fold.biasDims, fold.bias);
  const output = bn.output[0] ?? '';
  if (producer.opType === 'MatMul') {
    const product = context.names.fresh(`${base}_product`);
    edits.replace.set(producer, [
      copyNode(producer, { input: [producer.input[0] ?? '', weightName], output: [product] }),
      makeNode('Add', [product, biasName], [output], { name: context.names.fresh(`${base}_bias_add`) }),
    ]);
  } else {
    const inputs = [producer.input[0] ?? '', weightName, biasName];
    edits.replace.set(producer, [copyNode(producer, { input: inputs, output: [output], ...(fold.attributes ? { setAttributes: fold.attributes } : {}) })]);
  }
  edits.replace.set(bn, []);
  for (const name of [weight.name, bias?.name, ...bn.input.slice(1)]) if (name && !edits.rewritten.has(name)) edits.released.add(name);
}

/**
 * Folds every foldable BatchNormalization of the main graph; `changes` is the number folded,
 * notes say why others were kept.
 * @example foldBatchNorm(model).model.graph!.node.some((n) => n.opType === 'BatchNormalization') // false
 */
export function foldBatchNorm(model: ModelProto): PassResult {
  const graph = model.graph;
  if (!graph) return unchanged(model);
  const constants = constantInitializers(model, graph);
  const producers = new Map<string, NodeProto>();
  for (const node of graph.node) for (const output of node.output) if (output) producers.set(output, node);
  let shapes: ShapeInfo | undefined;
  const context: FoldContext = {
    uses: valueUses(graph),
    graphOutputs: new Set(graph.output.map((output) => output.name)),
    producers,
    names: new NameAllocator(graph),
    floatConstant(name) {
      const tensor = name ? constants.get(name) : undefined;
      if (!tensor || tensor.dataType !== DataType.FLOAT) return undefined;
      const decoded = decodeTensor(tensor);
      return { name: tensor.name, dims: decoded.dims, data: decoded.data as Float32Array };
    },
    rankOf: (name) => (shapes ??= inferShapes(graph)).rank(name),
  };
  const edits: FoldEdits = { replace: new Map(), added: [], rewritten: new Set(), released: new Set() };
  const notes: string[] = [];
  let folded = 0;
  for (const bn of graph.node) {
    if (!isOnnxOp(bn, 'BatchNormalization')) continue;
    const plan = planFold(bn, context);
    if (typeof plan === 'string') {
      notes.push(`kept BatchNormalization ${nodeLabel(bn)}: ${plan}`);
      continue;
    }
    applyFold(bn, plan, context, edits);
    folded++;
  }
  if (folded === 0) return unchanged(model, notes);
  let next = rebuildGraph(graph, { replace: edits.replace, addInitializers: edits.added, removeInitializers: edits.rewritten });
  const orphans = unusedInitializers(next, edits.released);
  if (orphans.length > 0) next = rebuildGraph(next, { removeInitializers: orphans });
  return { model: withGraph(model, pruneValueInfo(next)), changes: folded, notes };
}
