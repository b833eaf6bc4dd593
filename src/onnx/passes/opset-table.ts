/**
 * Which ai.onnx operators got a new schema at which opset (1 to 13), and which of those
 * changes need no rewrite. Facts from ONNX's `onnx/defs/operator_sets.h` and the operator
 * changelog; the "compatible" lists are changes that only add types, add attributes or inputs
 * whose defaults keep the old behaviour, or allow negative axes/indices (as ONNX's own version
 * converter treats them). A change not listed as compatible needs a converter in
 * `opset-converters.ts`, or the upgrade refuses the model.
 */

/** Op name and the opsets at which its schema changed, up to 13. */
const VERSION_TABLE =
  'Abs:1,6,13 Acos:7 Acosh:9 Add:1,6,7,13 And:1,7 ArgMax:1,11,12,13 ArgMin:1,11,12,13 Asin:7 Asinh:9 Atan:7 ' +
  'Atanh:9 AveragePool:1,7,10,11 BatchNormalization:1,6,7,9 BitShift:11 Cast:1,6,9,13 Ceil:1,6,13 Celu:12 ' +
  'Clip:1,6,11,12,13 Compress:9,11 Concat:1,4,11,13 ConcatFromSequence:11 Constant:1,9,11,12,13 ' +
  'ConstantOfShape:9 Conv:1,11 ConvInteger:10 ConvTranspose:1,11 Cos:7 Cosh:9 CumSum:11 DepthToSpace:1,11,13 ' +
  'DequantizeLinear:10,13 Det:11 Div:1,6,7,13 Dropout:1,6,7,10,12,13 DynamicQuantizeLinear:11 Einsum:12 Elu:1,6 ' +
  'Equal:1,7,11,13 Erf:9,13 Exp:1,6,13 Expand:8,13 EyeLike:9 Flatten:1,9,11,13 Floor:1,6,13 GRU:1,3,7 ' +
  'Gather:1,11,13 GatherElements:11,13 GatherND:11,12,13 Gemm:1,6,7,9,11,13 GlobalAveragePool:1 GlobalLpPool:1,2 ' +
  'GlobalMaxPool:1 Greater:1,7,9,13 GreaterOrEqual:12 HardSigmoid:1,6 Hardmax:1,11,13 Identity:1,13 If:1,11,13 ' +
  'InstanceNormalization:1,6 IsInf:10 IsNaN:9,13 LRN:1,13 LSTM:1,7 LeakyRelu:1,6 Less:1,7,9,13 LessOrEqual:12 ' +
  'Log:1,6,13 LogSoftmax:1,11,13 Loop:1,11,13 LpNormalization:1 LpPool:1,2,11 MatMul:1,9,13 MatMulInteger:10 ' +
  'Max:1,6,8,12,13 MaxPool:1,8,10,11,12 MaxRoiPool:1 MaxUnpool:9,11 Mean:1,6,8,13 MeanVarianceNormalization:9,13 ' +
  'Min:1,6,8,12,13 Mod:10,13 Mul:1,6,7,13 Multinomial:7 Neg:1,6,13 NegativeLogLikelihoodLoss:12,13 ' +
  'NonMaxSuppression:10,11 NonZero:9,13 Not:1 OneHot:9,11 Or:1,7 PRelu:1,6,7,9 Pad:1,2,11,13 Pow:1,7,12,13 ' +
  'QLinearConv:10 QLinearMatMul:10 QuantizeLinear:10,13 RNN:1,7 RandomNormal:1 RandomNormalLike:1 ' +
  'RandomUniform:1 RandomUniformLike:1 Range:11 Reciprocal:1,6,13 ReduceL1:1,11,13 ReduceL2:1,11,13 ' +
  'ReduceLogSum:1,11,13 ReduceLogSumExp:1,11,13 ReduceMax:1,11,12,13 ReduceMean:1,11,13 ReduceMin:1,11,12,13 ' +
  'ReduceProd:1,11,13 ReduceSum:1,11,13 ReduceSumSquare:1,11,13 Relu:1,6,13 Reshape:1,5,13 Resize:10,11,13 ' +
  'ReverseSequence:10 RoiAlign:10 Round:11 Scan:8,9,11 Scatter:9,11 ScatterElements:11,13 ScatterND:11,13 ' +
  'Selu:1,6 SequenceAt:11 SequenceConstruct:11 SequenceEmpty:11 SequenceErase:11 SequenceInsert:11 ' +
  'SequenceLength:11 Shape:1,13 Shrink:9 Sigmoid:1,6,13 Sign:9,13 Sin:7 Sinh:9 Size:1,13 Slice:1,10,11,13 ' +
  'Softmax:1,11,13 SoftmaxCrossEntropyLoss:12,13 Softplus:1 Softsign:1 SpaceToDepth:1,13 Split:1,2,11,13 ' +
  'SplitToSequence:11 Sqrt:1,6,13 Squeeze:1,11,13 StringNormalizer:10 Sub:1,6,7,13 Sum:1,6,8,13 Tan:7 ' +
  'Tanh:1,6,13 TfIdfVectorizer:9 ThresholdedRelu:10 Tile:1,6,13 TopK:1,10,11 Transpose:1,13 Unique:11 ' +
  'Unsqueeze:1,11,13 Upsample:1,7,9,10 Where:9 Xor:1,7';

/**
 * Changes (at opsets 8 to 13, the range kiln converts from 7) that need no rewrite: types
 * added, new attributes or optional inputs whose defaults keep the old behaviour, negative axes.
 */
const COMPATIBLE_TABLE: Readonly<Record<number, string>> = {
  8: 'Max Mean Min Sum MaxPool',
  9: 'Cast Constant Flatten Gemm Greater Less MatMul PRelu',
  10: 'AveragePool MaxPool',
  11:
    'ArgMax ArgMin AveragePool Compress Concat Constant Conv ConvTranspose DepthToSpace Equal Flatten Gather Gemm ' +
    'Hardmax If LogSoftmax Loop LpPool MaxPool MaxUnpool NonMaxSuppression OneHot ReduceL1 ReduceL2 ReduceLogSum ' +
    'ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare Scan Slice Softmax Split ' +
    'Squeeze TopK Unsqueeze',
  12: 'ArgMax ArgMin Clip Constant GatherND Max MaxPool Min Pow ReduceMax ReduceMin',
  13:
    'Abs Add ArgMax ArgMin Cast Ceil Clip Concat Constant DepthToSpace DequantizeLinear Div Dropout Equal Erf Exp ' +
    'Expand Flatten Floor Gather GatherElements GatherND Gemm Greater Identity If IsNaN LRN Less Log Loop MatMul Max ' +
    'Mean MeanVarianceNormalization Min Mod Mul Neg NegativeLogLikelihoodLoss NonZero Pad Pow QuantizeLinear ' +
    'Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ' +
    'ReduceSumSquare Relu Reshape ScatterElements ScatterND Shape Sigmoid Sign Size Slice SoftmaxCrossEntropyLoss ' +
    'SpaceToDepth Sqrt Sub Sum Tanh Tile Transpose',
};

/** Highest opset the table describes; upgrading past it is not supported. */
export const TABLE_MAX_OPSET = 13;

/** Lowest opset kiln converts from (older models predate broadcasting and today's BatchNormalization). */
export const MIN_SOURCE_OPSET = 7;

const VERSIONS: ReadonlyMap<string, readonly number[]> = new Map(
  VERSION_TABLE.split(' ').map((entry) => {
    const [op, list] = entry.split(':') as [string, string];
    return [op, list.split(',').map(Number)];
  }),
);

const COMPATIBLE: ReadonlyMap<number, ReadonlySet<string>> = new Map(
  Object.entries(COMPATIBLE_TABLE).map(([version, ops]) => [Number(version), new Set(ops.split(' '))]),
);

/** The opset at which the schema an op has at `opset` was introduced, or undefined if none yet. */
export function schemaVersion(opType: string, opset: number): number | undefined {
  const versions = VERSIONS.get(opType);
  if (!versions) return undefined;
  let found: number | undefined;
  for (const version of versions) if (version <= opset) found = version;
  return found;
}

/** True when ai.onnx defines the op at some opset up to {@link TABLE_MAX_OPSET}. */
export function isKnownOp(opType: string): boolean {
  return VERSIONS.has(opType);
}

/** Opsets in (from, to] at which the op's schema changed. */
export function schemaChanges(opType: string, from: number, to: number): number[] {
  return (VERSIONS.get(opType) ?? []).filter((version) => version > from && version <= to);
}

/** True when the op's change at `version` needs no rewrite. */
export function isCompatibleChange(opType: string, version: number): boolean {
  return COMPATIBLE.get(version)?.has(opType) ?? false;
}

/** The lowest IR version that may import ai.onnx at `opset` (ONNX's versioning table). */
export function minimumIrVersion(opset: number): number {
  if (opset >= 15) return 8;
  if (opset >= 12) return 7;
  if (opset === 11) return 6;
  if (opset === 10) return 5;
  if (opset === 9) return 4;
  return 3;
}
