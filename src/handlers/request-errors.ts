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

/**
 * Runs `work` for every request on its own and keeps each outcome: a request whose work throws
 * or rejects gets its error (tagged with its index) in its place, the others their value. A
 * handler that prepares requests this way, and returns the errors as those requests' results,
 * never fails a batch for one bad input.
 * @example const tensors = await settleEach(requests, (request, index) => decode(request, index));
 */
export async function settleEach<Item, T>(items: readonly Item[], work: (item: Item, index: number) => Promise<T> | T): Promise<(T | Error)[]> {
  return Promise.all(
    items.map(async (item, index) => {
      try {
        return await forRequest(index, async () => work(item, index));
      } catch (error) {
        return error instanceof Error ? error : new Error(String(error));
      }
    }),
  );
}

/** The values of settled outcomes with their positions, leaving the failures out. */
export function succeeded<T>(outcomes: readonly (T | Error)[]): { index: number; value: T }[] {
  return outcomes.flatMap((value, index) => (value instanceof Error ? [] : [{ index, value }]));
}
