/**
 * Model variants of one calibration: the same prepared float model and the same activation
 * ranges, quantized with a chosen set of layers left in float. Calibrating once and replaying
 * the ranges keeps every variant comparable (a re-calibration would move every scale) and
 * makes a variant cost one plan-and-emit, in memory, with no data pass.
 */
import type { ModelProto } from '../../onnx/gen/onnx_pb.js';
import { encodeModel } from '../../onnx/model-io.js';
import type { TensorRange } from '../calibrate/types.js';
import type { QuantizeOptions } from '../options.js';
import { quantizeModel, type QuantizeReport } from '../quantize-model.js';

/** A quantized variant, as bytes ready for ONNX Runtime, with its quantizer report. */
export interface Variant {
  readonly model: ModelProto;
  readonly bytes: Uint8Array;
  readonly report: QuantizeReport;
}

/** Builds variants of one prepared model from fixed ranges. */
export class VariantBuilder {
  /** Number of variants built so far (each is one plan, emit and encode). */
  built = 0;
  readonly #model: ModelProto;
  readonly #ranges: ReadonlyMap<string, TensorRange>;
  readonly #options: QuantizeOptions;

  /**
   * @param model a float model already through the prepare passes, so node labels are stable
   * @param options the user's quantization options; `excludeNodes` stay excluded in every variant
   */
  constructor(model: ModelProto, ranges: ReadonlyMap<string, TensorRange>, options: QuantizeOptions) {
    this.#model = model;
    this.#ranges = ranges;
    this.#options = options;
  }

  /** The model with every quantizable node in INT8 except `floatLayers` (node labels). */
  async build(floatLayers: Iterable<string>): Promise<Variant> {
    const excludeNodes = [...new Set([...(this.#options.excludeNodes ?? []), ...floatLayers])];
    const { model, report } = await quantizeModel(this.#model, undefined, { ...this.#options, ranges: this.#ranges, excludeNodes });
    this.built++;
    return { model, bytes: encodeModel(model), report };
  }
}
