import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeArchive } from '../archive/write.js';
import { silentLogger } from '../core/log.js';
import { BUNDLED_HANDLER_FILE, bundleHandler } from '../handlers/bundle.js';
import { ModelRegistry } from './registry.js';
import { SERVING_DEFAULTS } from './settings.js';

const store = mkdtempSync(join(tmpdir(), 'kiln-overlap-'));
let registry: ModelRegistry;

async function writeTimelineArchive(name: string, fixture: 'pipelined' | 'serial', isolation: 'thread' | 'process'): Promise<void> {
  const bundle = await bundleHandler(new URL(`../../test/fixtures/handlers/${fixture}.ts`, import.meta.url).pathname);
  const config = `batchSize: 2\nmaxBatchDelay: 100\nhandler:\n  isolation: ${isolation}\n`;
  await writeArchive({
    modelName: name,
    modelVersion: '1.0',
    handler: BUNDLED_HANDLER_FILE,
    configFile: 'model-config.yaml',
    entries: [
      { name: BUNDLED_HANDLER_FILE, source: { bytes: bundle } },
      { name: 'model-config.yaml', source: { bytes: new TextEncoder().encode(config) } },
    ],
    exportPath: store,
    format: 'default',
    force: true,
  });
}

before(async () => {
  await writeTimelineArchive('pipelined', 'pipelined', 'thread');
  await writeTimelineArchive('serial', 'serial', 'thread');
  await writeTimelineArchive('pair', 'pipelined', 'process');
  registry = new ModelRegistry({ store: { modelStore: store, allowedUrls: [] }, defaults: { ...SERVING_DEFAULTS, workers: 0 }, logger: silentLogger() , observer: { changed: () => undefined } });
  await registry.register({ url: 'pipelined.mar', initialWorkers: 1 });
  await registry.register({ url: 'serial.mar', initialWorkers: 1 });
});
after(async () => {
  await registry.close();
  rmSync(store, { recursive: true, force: true });
});

interface Answer {
  readonly tag: string;
  readonly events: { step: string; batch: string; t: number }[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function send(model: string, body: string): Promise<Answer | Error> {
  return registry.predict(model, undefined, { input: { body: new TextEncoder().encode(body) } }).then(
    (response) => JSON.parse(new TextDecoder().decode(response.body)) as Answer,
    (error: unknown) => error as Error,
  );
}

/**
 * Batch A blocks its thread in inference; B and C (full batches of 2) are handed over meanwhile.
 * Returns every answer in request order.
 */
async function threeBatches(model: string, bodies: { a?: string[]; b?: string[]; c?: string[] } = {}): Promise<(Answer | Error)[]> {
  const a = (bodies.a ?? ['a1;block:300', 'a2']).map((body) => send(model, body));
  await sleep(50);
  const b = (bodies.b ?? ['b1;block:300', 'b2']).map((body) => send(model, body));
  const c = (bodies.c ?? ['c1;block:100', 'c2']).map((body) => send(model, body));
  return Promise.all([...a, ...b, ...c]);
}

function answer(outcome: Answer | Error | undefined): Answer {
  assert.ok(outcome && !(outcome instanceof Error), `request failed: ${outcome instanceof Error ? outcome.message : outcome}`);
  return outcome;
}

function time(events: Answer['events'], step: string, batch: string): number {
  const event = events.find((candidate) => candidate.step === step && candidate.batch === batch);
  assert.ok(event, `no ${step} for batch ${batch} in ${JSON.stringify(events)}`);
  return event.t;
}

/** The events of the copy that answered last (events accumulate per handler copy). */
const latest = (outcomes: (Answer | Error)[]) => outcomes.filter((o): o is Answer => !(o instanceof Error)).map((o) => o.events).sort((x, y) => y.length - x.length)[0]!;

test('an overlapping handler preprocesses the next batch while the current batch infers; inference stays in arrival order', async () => {
  const outcomes = await threeBatches('pipelined');
  assert.deepEqual(outcomes.map((outcome) => answer(outcome).tag), ['a1', 'a2', 'b1', 'b2', 'c1', 'c2']);
  const events = latest(outcomes);
  // C was preprocessed before B's inference ended (B was blocking the thread meanwhile).
  assert.ok(time(events, 'pre-start', 'c1+c2') < time(events, 'inf-end', 'b1+b2'), JSON.stringify(events));
  const inferences = events.filter((event) => event.step === 'inf-start').map((event) => event.batch);
  assert.deepEqual(inferences.slice(-3), ['a1+a2', 'b1+b2', 'c1+c2']);
  // One inference at a time: each starts after the previous one ended.
  for (const [earlier, later] of [['a1+a2', 'b1+b2'], ['b1+b2', 'c1+c2']] as const) {
    assert.ok(time(events, 'inf-start', later) >= time(events, 'inf-end', earlier));
  }
});

test('a handler without overlap runs each batch wholly before the next one starts', async () => {
  const outcomes = await threeBatches('serial');
  assert.deepEqual(outcomes.map((outcome) => answer(outcome).tag), ['a1', 'a2', 'b1', 'b2', 'c1', 'c2']);
  const events = latest(outcomes);
  assert.ok(time(events, 'pre-start', 'c1+c2') >= time(events, 'inf-end', 'b1+b2'), JSON.stringify(events));
  assert.ok(time(events, 'pre-start', 'b1+b2') >= time(events, 'inf-end', 'a1+a2'), JSON.stringify(events));
});

test('under overlap a batch whose preprocess or inference fails fails alone, and a culprit fails without its batch', async () => {
  const outcomes = await threeBatches('pipelined', { b: ['b1;pre-fail', 'b2'], c: ['c1;inf-fail', 'c2'] });
  assert.deepEqual(outcomes.slice(0, 2).map((outcome) => answer(outcome).tag), ['a1', 'a2']);
  assert.ok(outcomes.slice(2).every((outcome) => outcome instanceof Error), 'batches B and C should have failed');
  const culprit = await threeBatches('pipelined', { b: ['b1;pre-culprit', 'b2'] });
  assert.ok(culprit[2] instanceof Error);
  assert.equal((culprit[2] as Error & { code?: string }).code, 'KILN_HANDLER_INPUT_INVALID');
  assert.deepEqual([0, 1, 3, 4, 5].map((index) => answer(culprit[index]).tag), ['a1', 'a2', 'b2', 'c1', 'c2']);
});

test('a stopping worker gives back the batches it was preparing ahead, and another worker answers them', async () => {
  await registry.register({ url: 'pair.mar', initialWorkers: 2 });
  // Both workers busy in inference; each then takes two full batches ahead and starts preparing them.
  const busy = [send('pair', 'x1;block:600'), send('pair', 'x2'), send('pair', 'y1;block:600'), send('pair', 'y2')];
  await sleep(150);
  const ahead = ['p', 'q', 'r', 's', 't', 'u', 'v', 'w'].map((tag) => send('pair', tag));
  await sleep(50);
  await registry.scale('pair', undefined, 1, 1, true);
  const answers = await Promise.all([...busy, ...ahead]);
  assert.deepEqual(answers.map((outcome) => answer(outcome).tag), ['x1', 'x2', 'y1', 'y2', 'p', 'q', 'r', 's', 't', 'u', 'v', 'w']);
  await registry.unregister('pair');
});
