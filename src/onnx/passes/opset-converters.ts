/**
 * Converters for ops whose attributes became inputs (Clip 11, Slice 10, TopK 10, Pad 11,
 * Dropout 12, Squeeze/Unsqueeze/ReduceSum/Split 13) or that were renamed or lost an attribute
 * (Scatter → ScatterElements 11, BatchNormalization `spatial` 9), and the registry of all
 * converters. Values moved into inputs become initializers.
 */
import { DataType, type TensorData } from '../dtype.js';
import type { NodeProto } from '../gen/onnx_pb.js';
import { float32ToFloat16 } from '../tensor.js';
import { copyNode, findAttribute, floatAttribute, intAttribute, intsAttribute, stringAttribute } from './attributes.js';
import { baseName, crosses, refuse, typeName, type ConvertContext, type OpConverter } from './opset-context.js';
import { RESIZE, SOFTMAX, SOFTMAX_FAMILY, UPSAMPLE } from './opset-rewrites.js';

/** A one-element tensor of `dataType` holding `value`, or undefined for types kiln does not write. */
function scalarData(dataType: number, value: number): TensorData | undefined {
  switch (dataType) {
    case DataType.FLOAT:
      return Float32Array.of(value);
    case DataType.DOUBLE:
      return Float64Array.of(value);
    case DataType.FLOAT16:
      return Uint16Array.of(float32ToFloat16(value));
    case DataType.INT8:
      return Int8Array.of(value);
    case DataType.UINT8:
      return Uint8Array.of(value);
    case DataType.INT16:
      return Int16Array.of(value);
    case DataType.UINT16:
      return Uint16Array.of(value);
    case DataType.INT32:
      return Int32Array.of(value);
    case DataType.UINT32:
      return Uint32Array.of(value);
    case DataType.INT64:
      return BigInt64Array.of(BigInt(value));
    default:
      return undefined;
  }
}

/** A scalar initializer with the element type of the node's first input. */
function typedScalar(node: NodeProto, context: ConvertContext, suffix: string, value: number): string {
  const dataType = context.shapes.elemType(node.input[0] ?? '');
  const data = dataType === undefined ? undefined : scalarData(dataType, value);
  if (dataType === undefined || !data) {
    refuse(node, context, `the element type of input '${node.input[0]}' (${typeName(dataType)}) is needed for its ${suffix} input`);
  }
  return context.addInitializer(`${baseName(node)}_${suffix}`, dataType, [], data);
}

function int64Input(node: NodeProto, context: ConvertContext, suffix: string, values: readonly number[]): string {
  return context.addInitializer(`${baseName(node)}_${suffix}`, DataType.INT64, [values.length], BigInt64Array.from(values, BigInt));
}

/** Drops trailing omitted ('') inputs, which ONNX allows to be left out. */
function trimInputs(inputs: readonly string[]): string[] {
  const trimmed = [...inputs];
  while (trimmed.length > 0 && trimmed[trimmed.length - 1] === '') trimmed.pop();
  return trimmed;
}

/** An attribute of ints that became an optional int64 input at `version`, placed at `index`. */
function intsToInput(attribute: string, version: number, index: number, required = false): OpConverter {
  return {
    handles: [version],
    convert(node, context) {
      if (!crosses(context, version)) return [node];
      const values = intsAttribute(node, attribute);
      if (!values) {
        if (required) refuse(node, context, `it has no '${attribute}' attribute`);
        return [node];
      }
      const inputs = [...node.input];
      while (inputs.length < index) inputs.push('');
      inputs[index] = int64Input(node, context, attribute, values);
      return [copyNode(node, { input: trimInputs(inputs), removeAttributes: [attribute] })];
    },
  };
}

const clip: OpConverter = {
  handles: [11],
  convert(node, context) {
    if (!crosses(context, 11)) return [node];
    const min = floatAttribute(node, 'min');
    const max = floatAttribute(node, 'max');
    const inputs = [
      node.input[0] ?? '',
      min === undefined ? '' : typedScalar(node, context, 'min', min),
      max === undefined ? '' : typedScalar(node, context, 'max', max),
    ];
    return [copyNode(node, { input: trimInputs(inputs), removeAttributes: ['min', 'max'] })];
  },
};

const slice: OpConverter = {
  handles: [10],
  convert(node, context) {
    if (!crosses(context, 10)) return [node];
    const starts = intsAttribute(node, 'starts');
    const ends = intsAttribute(node, 'ends');
    if (!starts || !ends) refuse(node, context, `it lacks the 'starts' or 'ends' attribute`);
    const axes = intsAttribute(node, 'axes');
    const inputs = [node.input[0] ?? '', int64Input(node, context, 'starts', starts), int64Input(node, context, 'ends', ends)];
    if (axes) inputs.push(int64Input(node, context, 'axes', axes));
    return [copyNode(node, { input: inputs, removeAttributes: ['starts', 'ends', 'axes'] })];
  },
};

const topK: OpConverter = {
  handles: [10],
  convert(node, context) {
    if (!crosses(context, 10)) return [node];
    const k = intAttribute(node, 'k');
    if (k === undefined) refuse(node, context, `it has no 'k' attribute`);
    return [copyNode(node, { input: [node.input[0] ?? '', int64Input(node, context, 'k', [k])], removeAttributes: ['k'] })];
  },
};

const pad: OpConverter = {
  handles: [11],
  convert(node, context) {
    if (!crosses(context, 11)) return [node];
    const pads = intsAttribute(node, 'pads') ?? intsAttribute(node, 'paddings');
    if (!pads) refuse(node, context, `it has no 'pads' attribute`);
    const value = floatAttribute(node, 'value', 0);
    const mode = stringAttribute(node, 'mode', 'constant');
    const inputs = [node.input[0] ?? '', int64Input(node, context, 'pads', pads)];
    if (mode === 'constant' && value !== 0) inputs.push(typedScalar(node, context, 'value', value));
    return [copyNode(node, { input: inputs, removeAttributes: ['pads', 'paddings', 'value'] })];
  },
};

const dropout: OpConverter = {
  handles: [10, 12],
  convert(node, context) {
    const mask = node.output[1];
    if (crosses(context, 10) && mask && context.isUsed(mask)) {
      refuse(node, context, `its mask output '${mask}' is read, and the mask's type changes to bool at opset 10`);
    }
    const ratio = floatAttribute(node, 'ratio');
    if (!crosses(context, 12) || ratio === undefined) return [node];
    // From opset 12 the ratio is an input (any float type); without training_mode it is unused.
    const inputs = [node.input[0] ?? '', context.addInitializer(`${baseName(node)}_ratio`, DataType.FLOAT, [], Float32Array.of(ratio))];
    return [copyNode(node, { input: inputs, removeAttributes: ['ratio'] })];
  },
};

const batchNormalization: OpConverter = {
  handles: [9],
  convert(node, context) {
    if (!crosses(context, 9) || !findAttribute(node, 'spatial')) return [node];
    if (intAttribute(node, 'spatial', 1) !== 1) {
      refuse(node, context, `spatial=0 (per-activation statistics) has no equivalent from opset 9`);
    }
    return [copyNode(node, { removeAttributes: ['spatial'] })];
  },
};

const scatter: OpConverter = {
  handles: [11],
  convert(node, context) {
    // ScatterElements-11 is Scatter-9 under a new name (plus negative indices).
    return crosses(context, 11) ? [copyNode(node, { opType: 'ScatterElements' })] : [node];
  },
};

/** Every converter, by op type. */
export const CONVERTERS: ReadonlyMap<string, OpConverter> = new Map<string, OpConverter>([
  ['Clip', clip],
  ['Slice', slice],
  ['TopK', topK],
  ['Pad', pad],
  ['Dropout', dropout],
  ['BatchNormalization', batchNormalization],
  ['Scatter', scatter],
  ['Squeeze', intsToInput('axes', 13, 1)],
  ['Unsqueeze', intsToInput('axes', 13, 1, true)],
  ['ReduceSum', intsToInput('axes', 13, 1)],
  ['Split', intsToInput('split', 13, 1)],
  ['Upsample', UPSAMPLE],
  ['Resize', RESIZE],
  ...SOFTMAX_FAMILY.map((op): [string, OpConverter] => [op, SOFTMAX]),
]);
