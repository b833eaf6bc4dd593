import { silentLogger } from '../../core/log.js';
import { withArchiveHandler } from '../../handlers/from-archive.js';
import { isFailure, runBatch } from '../../handlers/run.js';
import { readFileChecked } from '../../core/fs.js';
import type { CliIO } from '../io.js';

/**
 * Loads an archive's handler in this process and runs one batch with each input as a raw-body
 * request (as `curl -T file` sends it). Returns each response decoded: parsed JSON, or text.
 */
export async function predictArchive(archivePath: string, bodies: readonly Uint8Array[]): Promise<unknown[]> {
  return withArchiveHandler(archivePath, { logger: silentLogger(), batchSize: bodies.length }, async (ready) => {
    const outcomes = await runBatch(ready.handler, ready.model, bodies.map((body) => ({ input: { body } })));
    const decoder = new TextDecoder();
    return outcomes.map((response) => {
      if (isFailure(response)) throw response;
      const text = decoder.decode(response.body);
      return response.json ? JSON.parse(text) : text;
    });
  });
}

/**
 * `kiln predict ARCHIVE INPUT...`: the quickest check that an archive works before serving it.
 * Prints the responses as JSON (one input: its response; several: an array).
 */
export async function runPredict(archivePath: string, inputs: readonly string[], io: CliIO): Promise<void> {
  const bodies = inputs.map((path) => new Uint8Array(readFileChecked(path, 'input')));
  const results = await predictArchive(archivePath, bodies);
  io.out(JSON.stringify(inputs.length === 1 ? results[0] : results, null, 2));
}
