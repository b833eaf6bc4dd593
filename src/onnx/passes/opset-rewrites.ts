/**
 * Converters that change an op's meaning, not just where its operands live: Upsample → Resize,
 * Resize-10 → Resize-11 (same pixels as opset 10), and the Softmax family at opset 13, which
 * stopped flattening its input to 2-D.
 */
import { makeNode } from '../build.js';
import { DataType } from '../dtype.js';
import type { NodeProto } from '../gen/onnx_pb.js';
import { copyNode, floatsAttribute, intAttribute, stringAttribute } from './attributes.js';
import { baseName, crosses, refuse, type ConvertContext, type OpConverter } from './opset-context.js';

/** Ops whose opset-13 version works along one axis instead of over a 2-D coercion. */
export const SOFTMAX_FAMILY = ['Softmax', 'LogSoftmax', 'Hardmax'] as const;

/** Resize's `roi` input: optional from opset 13, an (empty, unused) tensor before. */
function roiInput(node: NodeProto, context: ConvertContext): string {
  return context.target >= 13 ? '' : context.addInitializer(`${baseName(node)}_roi`, DataType.FLOAT, [0], new Float32Array(0));
}

/**
 * Opset 7–10 Upsample/Resize map output pixel x to input x / scale (asymmetric) for both modes;
 * nearest then truncates. onnxruntime (measured, 1.30) truncates by flooring when the axis is
 * upsampled and by ceiling when it is downsampled.
 */
function asymmetricAttributes(mode: string, nearestMode: 'floor' | 'ceil'): Record<string, string> {
  return mode === 'nearest'
    ? { mode, coordinate_transformation_mode: 'asymmetric', nearest_mode: nearestMode }
    : { mode, coordinate_transformation_mode: 'asymmetric' };
}

function interpolationMode(node: NodeProto, context: ConvertContext): 'nearest' | 'linear' {
  const mode = stringAttribute(node, 'mode', 'nearest');
  if (mode === 'nearest') return 'nearest';
  if (mode === 'linear' || mode === 'bilinear') return 'linear';
  return refuse(node, context, `unknown mode '${mode}'`);
}

export const UPSAMPLE: OpConverter = {
  handles: [9, 10],
  convert(node, context) {
    const mode = interpolationMode(node, context);
    const attributeScales = floatsAttribute(node, 'scales');
    const scales =
      context.source < 9
        ? attributeScales
          ? context.addInitializer(`${baseName(node)}_scales`, DataType.FLOAT, [attributeScales.length], Float32Array.from(attributeScales))
          : refuse(node, context, `it has no 'scales' attribute`)
        : (node.input[1] ?? '');
    if (context.target < 11) {
      if (!crosses(context, 9)) return [node];
      return [copyNode(node, { input: [node.input[0] ?? '', scales], removeAttributes: ['scales'] })];
    }
    // Upsample requires every scale ≥ 1 (onnxruntime enforces it), so nearest always floors.
    return [
      copyNode(node, {
        opType: 'Resize',
        input: [node.input[0] ?? '', roiInput(node, context), scales],
        removeAttributes: ['scales', 'mode'],
        setAttributes: asymmetricAttributes(mode, 'floor'),
      }),
    ];
  },
};

function resizeFrom10(node: NodeProto, context: ConvertContext): NodeProto[] {
  const mode = interpolationMode(node, context);
  const x = node.input[0] ?? '';
  const scalesName = node.input[1] ?? '';
  const resize = (inputs: string[], output: string, nearest: 'floor' | 'ceil', name?: string) =>
    copyNode(node, {
      opType: 'Resize',
      ...(name ? { name } : {}),
      input: inputs,
      output: [output],
      removeAttributes: ['mode'],
      setAttributes: asymmetricAttributes(mode, nearest),
    });
  const output = node.output[0] ?? '';
  if (mode === 'linear') return [resize([x, roiInput(node, context), scalesName], output, 'floor')];
  const scales = context.constantValues(scalesName);
  if (!scales) refuse(node, context, `nearest rounding at opset 10 depends on whether each scale is below 1, and scales '${scalesName}' are not constant`);
  const down = scales.some((scale) => scale < 1);
  const up = scales.some((scale) => scale > 1);
  if (!(down && up)) return [resize([x, roiInput(node, context), scalesName], output, down ? 'ceil' : 'floor')];
  // Mixed directions round differently per axis: resize the shrinking axes first (ceil), then
  // the growing ones (floor). Nearest is separable by axis, so the pixels are the same.
  const shrink = context.addInitializer(`${baseName(node)}_scales_down`, DataType.FLOAT, [scales.length], Float32Array.from(scales, (s) => Math.min(s, 1)));
  const grow = context.addInitializer(`${baseName(node)}_scales_up`, DataType.FLOAT, [scales.length], Float32Array.from(scales, (s) => Math.max(s, 1)));
  const middle = context.freshName(`${baseName(node)}_down`);
  return [
    resize([x, roiInput(node, context), shrink], middle, 'ceil', context.freshName(`${baseName(node)}_down`)),
    resize([middle, roiInput(node, context), grow], output, 'floor'),
  ];
}

export const RESIZE: OpConverter = {
  handles: [11, 13],
  convert(node, context) {
    const nodes = crosses(context, 11) ? resizeFrom10(node, context) : [node];
    if (crosses(context, 13) && stringAttribute(node, 'coordinate_transformation_mode') === 'tf_half_pixel_for_nn') {
      refuse(node, context, `coordinate_transformation_mode 'tf_half_pixel_for_nn' was removed at opset 13`);
    }
    return nodes;
  },
};

/**
 * Before opset 13 these ops flattened the input to 2-D at `axis` (default 1) and worked on
 * the second dimension; from 13 they work along `axis` alone (default -1). The two agree when
 * `axis` is the last dimension. Otherwise the old meaning is rebuilt as
 * Flatten(axis) → op(axis=-1) → Reshape(Shape(x)), which needs no rank at all.
 */
export const SOFTMAX: OpConverter = {
  handles: [13],
  convert(node, context) {
    if (!crosses(context, 13)) return [node];
    const x = node.input[0] ?? '';
    const axis = intAttribute(node, 'axis', 1);
    const rank = context.shapes.rank(x);
    if (rank !== undefined && (axis < 0 ? axis + rank : axis) === rank - 1) {
      return [copyNode(node, { setAttributes: { axis: -1 } })];
    }
    const base = baseName(node);
    const shape = context.freshName(`${base}_input_shape`);
    const flat = context.freshName(`${base}_flat`);
    const result = context.freshName(`${base}_2d`);
    return [
      makeNode('Shape', [x], [shape], { name: context.freshName(`${base}_shape`) }),
      makeNode('Flatten', [x], [flat], { name: context.freshName(`${base}_flatten`), attributes: { axis } }),
      copyNode(node, { input: [flat], output: [result], setAttributes: { axis: -1 } }),
      makeNode('Reshape', [result, shape], [node.output[0] ?? ''], { name: context.freshName(`${base}_reshape`) }),
    ];
  },
};
