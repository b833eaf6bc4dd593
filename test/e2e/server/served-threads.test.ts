import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import { openArchive } from '../../../src/archive/read.js';
import { writeArchive } from '../../../src/archive/write.js';
import { ppOcrAssetsDir } from '../../../src/cli/default-models.js';
import { createLogger } from '../../../src/core/log.js';
import { intraOpThreadsFor } from '../../../src/runtime/served-threads.js';
import { InProcessHost } from '../../../src/serving/handler-host.js';

const store = mkdtempSync(join(tmpdir(), 'kiln-threads-'));
after(() => rmSync(store, { recursive: true, force: true }));

async function archive(name: string, handler: string, config: string): Promise<string> {
  const written = await writeArchive({
    modelName: name,
    modelVersion: '1.0',
    handler,
    serializedFile: 'model.onnx',
    configFile: 'model-config.yaml',
    entries: [
      { name: 'model.onnx', source: { bytes: readFileSync(join(ppOcrAssetsDir(), 'ch_ppocr_mobile_v2.0_cls_infer.onnx')) } },
      { name: 'model-config.yaml', source: { bytes: new TextEncoder().encode(config) } },
    ],
    exportPath: store,
    format: 'default',
    force: true,
  });
  return written.path;
}

/** Loads the archive in a host as a server worker would, and returns the sessions it created. */
async function sessionsOf(path: string, workers: number): Promise<{ threads: number; sessionConfig: Record<string, string> }[]> {
  const lines: string[] = [];
  const destination = new Writable({ write: (chunk, _encoding, done) => void (lines.push(String(chunk)), done()) });
  const opened = await openArchive(path);
  const host = new InProcessHost({ archive: opened, modelName: 'm', batchSize: 1, workers, logger: createLogger({ level: 'debug', destination }) });
  try {
    await host.load();
  } finally {
    await host.close();
    await opened.remove();
  }
  return lines.map((line) => JSON.parse(line) as { msg: string; threads: number; sessionConfig: Record<string, string> }).filter((line) => line.msg === 'session created');
}

test("a served built-in handler's session gets max(1, floor(cores / workers)) intra-op threads and the short spin", async () => {
  const path = await archive('cls', 'image_classifier', 'handler:\n  image:\n    size: [48, 192]\n    fit: pad\n');
  for (const workers of [1, 2, 3]) {
    const sessions = await sessionsOf(path, workers);
    assert.equal(sessions.length, 1);
    assert.equal(sessions[0]!.threads, intraOpThreadsFor(availableParallelism(), workers));
    assert.deepEqual(sessions[0]!.sessionConfig, {
      'session.intra_op.allow_spinning': '1',
      'session.intra_op.spin_duration_us': '20',
      'session.force_spinning_stop': '1',
    });
  }
});

test("an explicit handler.threads still wins over the sizing rule", async () => {
  const sessions = await sessionsOf(await archive('tensor', 'tensor', 'handler:\n  threads: 3\n'), 2);
  assert.equal(sessions[0]!.threads, 3);
});
