import { readFileSync } from 'node:fs';
import { openArchive } from '../../archive/read.js';
import { KilnError, describeError } from '../../core/errors.js';
import { silentLogger } from '../../core/log.js';
import { initializeArchiveHandler } from '../../handlers/from-archive.js';
import { runBatch } from '../../handlers/run.js';
import { ioReason } from '../../core/fs.js';
import type { CliIO } from '../io.js';

/**
 * `kiln predict ARCHIVE INPUT...`: loads the archive's handler in this process and runs one
 * batch with each input file as a raw-body request (as `curl -T file` would send it). Prints
 * the responses as JSON — the quickest check that an archive works before serving it.
 */
export async function runPredict(archivePath: string, inputs: readonly string[], io: CliIO): Promise<void> {
  const requests = inputs.map((path) => {
    try {
      return { input: { body: new Uint8Array(readFileSync(path)) } };
    } catch (error) {
      throw new KilnError('KILN_IO_NOT_FOUND', `${path}: cannot read input (${ioReason(error)})`, { cause: error });
    }
  });
  const archive = await openArchive(archivePath);
  try {
    const ready = await initializeArchiveHandler(archive, { logger: silentLogger(), batchSize: requests.length });
    try {
      const responses = await runBatch(ready.handler, ready.model, requests);
      const decoder = new TextDecoder();
      const results = responses.map((response) => {
        const text = decoder.decode(response.body);
        try {
          return response.json ? JSON.parse(text) : text;
        } catch (error) {
          return describeError(error);
        }
      });
      io.out(JSON.stringify(inputs.length === 1 ? results[0] : results, null, 2));
    } finally {
      await ready.handler.close?.();
    }
  } finally {
    await archive.remove();
  }
}
