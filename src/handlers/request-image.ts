/**
 * Request bodies to images: the bytes of a TorchServe request, and their tensor by the image
 * module's one implementation (the one calibration uses), failing with the handler's error code.
 */
import { KilnError, isKilnError } from '../core/errors.js';
import { decodeRgb, prepareImage, prepareImagePixels, type ImagePixels, type ImagePreprocess, type ImageTensor, type RgbPixels } from '../image/index.js';

/** Request bytes from TorchServe's `data` or `body` field; a string is base64. */
export function requestBytes(input: Readonly<Record<string, unknown>>, requestIndex: number): Uint8Array {
  const value = input['data'] ?? input['body'];
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return Buffer.from(value, 'base64');
  throw new KilnError('KILN_HANDLER_INPUT_INVALID', `request ${requestIndex}: expected image bytes in 'data' or 'body'`, {
    details: { requestIndex },
  });
}

function asInputInvalid(error: unknown, requestIndex: number | undefined): unknown {
  if (!isKilnError(error, 'KILN_IMAGE_DECODE_FAILED')) return error;
  const which = requestIndex === undefined ? 'the request' : `request ${requestIndex}`;
  return new KilnError('KILN_HANDLER_INPUT_INVALID', `${which} is ${error.message}`, {
    cause: error,
    details: { ...error.details, ...(requestIndex === undefined ? {} : { requestIndex }) },
  });
}

/**
 * The model input for one request's image bytes.
 * @throws KilnError `KILN_HANDLER_INPUT_INVALID` when the bytes are not a decodable image.
 */
export async function requestImageTensor(bytes: Uint8Array, preprocess: ImagePreprocess, requestIndex?: number): Promise<ImageTensor> {
  try {
    return await prepareImage(bytes, preprocess);
  } catch (error) {
    throw asInputInvalid(error, requestIndex);
  }
}

/**
 * One request's image as uint8 `[1, H, W, C]` pixels, for a model with the preprocessing folded in.
 * @throws KilnError `KILN_HANDLER_INPUT_INVALID` when the bytes are not a decodable image.
 */
export async function requestImagePixels(bytes: Uint8Array, preprocess: ImagePreprocess, requestIndex?: number): Promise<ImagePixels> {
  try {
    return await prepareImagePixels(bytes, preprocess);
  } catch (error) {
    throw asInputInvalid(error, requestIndex);
  }
}

/**
 * Decodes request bytes to upright RGB, alpha on white (the OCR pipeline's page).
 * @throws KilnError `KILN_HANDLER_INPUT_INVALID` when the bytes are not a decodable image.
 */
export async function decodeRequestImage(bytes: Uint8Array, requestIndex?: number): Promise<RgbPixels> {
  try {
    return await decodeRgb(bytes);
  } catch (error) {
    throw asInputInvalid(error, requestIndex);
  }
}
