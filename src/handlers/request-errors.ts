import { KilnError, isKilnError } from '../core/errors.js';

/**
 * Runs one request's part of a batch and tags a KilnError it throws with the request's index,
 * so the caller can tell which request of the batch was at fault.
 */
export async function forRequest<T>(index: number, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isKilnError(error) && !('requestIndex' in error.details)) {
      throw new KilnError(error.code, `request ${index}: ${error.message}`, { cause: error, details: { ...error.details, requestIndex: index } });
    }
    throw error;
  }
}
