import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { register as globalRegistry } from 'prom-client';
import { isKilnError } from '../core/errors.js';
import {
  createServerMetrics,
  KILN_METRIC,
  PROMETHEUS_CONTENT_TYPE,
  TS_METRIC,
  type InferenceSample,
  type ServerMetrics,
} from './index.js';

const HOST = 'test-host';

function inference(overrides: Partial<InferenceSample> = {}): InferenceSample {
  return { model: 'noop', version: '1.0', versionInUrl: false, queueMs: 2, inferenceMs: 5, totalMs: 8, ...overrides };
}

/** The value of the one sample of `name` carrying every given label, or undefined when absent. */
function sample(body: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  const found = body
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .filter((line) => wanted.every((pair) => line.includes(pair)));
  assert.ok(found.length <= 1, `more than one ${name} sample matches ${wanted.join(',')}:\n${found.join('\n')}`);
  const line = found[0];
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Family names named by `# TYPE` lines, in order. */
function families(body: string): string[] {
  return [...body.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]!);
}

async function body(metrics: ServerMetrics, names?: readonly string[]): Promise<string> {
  return (await metrics.render(names)).body;
}

describe('createServerMetrics', () => {
  it('counts inference requests and sums their latencies in microseconds', async () => {
    const metrics = createServerMetrics({ hostname: HOST });
    metrics.recordInference(inference({ queueMs: 2, totalMs: 8 }));
    metrics.recordInference(inference({ queueMs: 3, totalMs: 10 }));
    const text = await body(metrics);
    const labels = { model_name: 'noop', model_version: 'default', hostname: HOST };
    assert.equal(sample(text, TS_METRIC.inferenceRequestsTotal, labels), 2);
    assert.equal(sample(text, TS_METRIC.queueLatencyMicroseconds, labels), 5000);
    // Arrival to response, queue included, as TorchServe measures it.
    assert.equal(sample(text, TS_METRIC.inferenceLatencyMicroseconds, labels), 18000);
    assert.equal(sample(text, TS_METRIC.queueTime, { Level: 'Host', Hostname: HOST }), 3);
  });

  it('labels ts_* series model_version="default" unless the URL named the version', async () => {
    const metrics = createServerMetrics({ hostname: HOST });
    metrics.recordInference(inference({ versionInUrl: false }));
    metrics.recordInference(inference({ versionInUrl: true }));
    metrics.recordInference(inference({ versionInUrl: true }));
    const text = await body(metrics);
    assert.equal(sample(text, TS_METRIC.inferenceRequestsTotal, { model_version: 'default' }), 1);
    assert.equal(sample(text, TS_METRIC.inferenceRequestsTotal, { model_version: '1.0' }), 2);
    // kiln's histograms always carry the version that served the request.
    assert.equal(sample(text, `${KILN_METRIC.requestLatencySeconds}_count`, { model_version: '1.0' }), 3);
    assert.equal(sample(text, `${KILN_METRIC.requestLatencySeconds}_count`, { model_version: 'default' }), undefined);
  });

  it('writes sample values the way TorchServe does (checklist item 46)', async () => {
    const metrics = createServerMetrics({ hostname: HOST });
    metrics.recordInference(inference());
    const page = await metrics.render();
    assert.equal(page.contentType, PROMETHEUS_CONTENT_TYPE);
    // TorchServe's text: a comma after every label pair, Java doubles, no blank lines.
    assert.match(page.body, /^ts_inference_requests_total\{model_name="noop",model_version="default",hostname="test-host",\} 1\.0$/m);
    assert.ok(page.body.endsWith('\n'));
    assert.doesNotMatch(page.body, /\n\n/);
    // prom-client's standard form on request: no trailing comma.
    const standard = (await metrics.render(undefined, { format: 'standard' })).body;
    assert.match(standard, /^ts_inference_requests_total\{model_name="noop",model_version="default",hostname="test-host"\} 1\.0$/m);
  });

  it('puts each status into its TorchServe class: 2XX, 4XX, everything else 5XX', async () => {
    const metrics = createServerMetrics({ hostname: HOST });
    for (const status of [200, 202, 404, 400, 499, 503, 302, 500, 101, 507]) metrics.recordRequest(status);
    const text = await body(metrics);
    const host = { Level: 'Host', Hostname: HOST };
    assert.equal(sample(text, TS_METRIC.requests2xx, host), 2);
    assert.equal(sample(text, TS_METRIC.requests4xx, host), 3);
    assert.equal(sample(text, TS_METRIC.requests5xx, host), 5);
  });

  it('renders only the named families; unknown names add nothing; no names means all', async () => {
    const metrics = createServerMetrics({ hostname: HOST });
    metrics.recordInference(inference());
    metrics.recordRequest(200);
    const all = families(await body(metrics));
    assert.ok(all.length >= 17, `expected every family, got ${all.join(', ')}`);
    assert.deepEqual(families(await body(metrics, [])), all);

    const one = await body(metrics, [TS_METRIC.queueLatencyMicroseconds]);
    assert.deepEqual(families(one), [TS_METRIC.queueLatencyMicroseconds]);
    assert.equal(sample(one, TS_METRIC.inferenceRequestsTotal), undefined);

    const two = await body(metrics, ['nope', TS_METRIC.requests2xx, KILN_METRIC.batchSize, TS_METRIC.requests2xx]);
    assert.deepEqual(families(two), [TS_METRIC.requests2xx, KILN_METRIC.batchSize]);
    assert.equal(await body(metrics, ['nope', 'ts_queue_latency_microseconds_sum']), '');
  });

  it('puts histogram observations into the right buckets', async () => {
    const metrics = createServerMetrics({ hostname: HOST });
    metrics.recordInference(inference({ queueMs: 2, inferenceMs: 40, totalMs: 45_000 }));
    metrics.recordBatch({ model: 'noop', version: '1.0', size: 3 });
    metrics.recordBatch({ model: 'noop', version: '1.0', size: 8 });
    const text = await body(metrics);
    const bucket = (family: string, le: string): number | undefined =>
      sample(text, `${family}_bucket`, { le, model_name: 'noop', model_version: '1.0' });
    assert.equal(bucket(KILN_METRIC.queueLatencySeconds, '0.001'), 0);
    assert.equal(bucket(KILN_METRIC.queueLatencySeconds, '0.0025'), 1);
    assert.equal(bucket(KILN_METRIC.inferenceLatencySeconds, '0.025'), 0);
    assert.equal(bucket(KILN_METRIC.inferenceLatencySeconds, '0.05'), 1);
    assert.equal(bucket(KILN_METRIC.requestLatencySeconds, '30'), 0);
    assert.equal(bucket(KILN_METRIC.requestLatencySeconds, '+Inf'), 1);
    assert.equal(sample(text, `${KILN_METRIC.requestLatencySeconds}_sum`), 45);
    assert.equal(bucket(KILN_METRIC.batchSize, '2'), 0);
    assert.equal(bucket(KILN_METRIC.batchSize, '4'), 1);
    assert.equal(bucket(KILN_METRIC.batchSize, '8'), 2);
    assert.equal(sample(text, `${KILN_METRIC.batchSize}_count`), 2);
  });

  it('sets worker, queue-depth and backend gauges', async () => {
    const metrics = createServerMetrics({ hostname: HOST });
    metrics.setWorkers('noop', '1.0', 2, 1);
    metrics.setQueueDepth('noop', '1.0', 7);
    metrics.recordHandler({ model: 'noop', handlerMs: 12, predictionMs: 9 });
    metrics.recordWorkerLoad('noop', '1.0', 150, 'W-0-noop_1.0');
    metrics.recordBatch({ model: 'noop', version: '1.0', size: 1, workerThreadMs: 0.5 });
    const text = await body(metrics);
    assert.equal(sample(text, KILN_METRIC.modelWorkers, { model_version: '1.0', state: 'ready' }), 2);
    assert.equal(sample(text, KILN_METRIC.modelWorkers, { model_version: '1.0', state: 'starting' }), 1);
    assert.equal(sample(text, KILN_METRIC.queueDepth, { model_name: 'noop', model_version: '1.0' }), 7);
    const model = { ModelName: 'noop', Level: 'Model', Hostname: HOST };
    assert.equal(sample(text, TS_METRIC.handlerTime, model), 12);
    assert.equal(sample(text, TS_METRIC.predictionTime, model), 9);
    assert.equal(sample(text, TS_METRIC.workerLoadTime, { WorkerName: 'W-0-noop_1.0', Level: 'Host' }), 150);
    assert.equal(sample(text, TS_METRIC.workerThreadTime, { Level: 'Host', Hostname: HOST }), 0.5);
  });

  it('removeModel drops a version, and model-wide series with its last version', async () => {
    const metrics = createServerMetrics({ hostname: HOST });
    for (const version of ['1.0', '2.0']) {
      metrics.recordInference(inference({ version, versionInUrl: true }));
      metrics.recordInference(inference({ version, versionInUrl: false }));
      metrics.recordBatch({ model: 'noop', version, size: 2 });
      metrics.setWorkers('noop', version, 1, 0);
      metrics.setQueueDepth('noop', version, 1);
      metrics.recordWorkerLoad('noop', version, 10);
    }
    metrics.recordHandler({ model: 'noop', handlerMs: 1, predictionMs: 1 });
    metrics.recordInference(inference({ model: 'other' }));

    metrics.removeModel('noop', '2.0');
    let text = await body(metrics);
    assert.ok(!text.includes('model_version="2.0"'), text);
    assert.ok(!text.includes('W-noop_2.0'));
    assert.equal(sample(text, KILN_METRIC.queueDepth, { model_version: '1.0' }), 1);
    assert.equal(sample(text, TS_METRIC.inferenceRequestsTotal, { model_name: 'noop', model_version: 'default' }), 2);
    assert.equal(sample(text, TS_METRIC.handlerTime, { ModelName: 'noop' }), 1);

    metrics.removeModel('noop', '1.0');
    text = await body(metrics);
    assert.ok(!/model_name="noop"|ModelName="noop"|W-noop_/.test(text), text);
    assert.equal(sample(text, TS_METRIC.inferenceRequestsTotal, { model_name: 'other' }), 1);
    assert.deepEqual(families(text), families(await body(createServerMetrics())), 'families stay registered');
  });

  it('keeps two instances independent and stays off prom-client\'s global registry', async () => {
    const first = createServerMetrics({ hostname: HOST });
    const second = createServerMetrics({ hostname: HOST });
    first.recordInference(inference());
    first.recordRequest(500);
    const text = await body(second);
    assert.equal(sample(text, TS_METRIC.inferenceRequestsTotal), undefined);
    assert.equal(sample(text, TS_METRIC.requests5xx), undefined);
    assert.equal(globalRegistry.getSingleMetric(TS_METRIC.inferenceRequestsTotal), undefined);
  });

  it('renders an empty body in log mode and only the ts_* families in legacy mode', async () => {
    const log = createServerMetrics({ hostname: HOST, metricsMode: 'log' });
    log.recordInference(inference());
    assert.deepEqual(await log.render(), { contentType: PROMETHEUS_CONTENT_TYPE, body: '' });

    const legacy = createServerMetrics({ hostname: HOST, metricsMode: 'legacy' });
    legacy.recordInference(inference());
    assert.deepEqual(families(await body(legacy)), [
      TS_METRIC.inferenceRequestsTotal,
      TS_METRIC.inferenceLatencyMicroseconds,
      TS_METRIC.queueLatencyMicroseconds,
    ]);
    assert.equal(await body(legacy, [TS_METRIC.requests2xx]), '');
  });

  it('applies the prefix to kiln families only, and rejects a bad prefix or mode', async () => {
    const metrics = createServerMetrics({ hostname: HOST, prefix: 'acme_' });
    const names = families(await body(metrics));
    assert.ok(names.includes('acme_batch_size') && !names.includes(KILN_METRIC.batchSize));
    assert.ok(names.includes(TS_METRIC.inferenceRequestsTotal));
    assert.equal(metrics.config.prefix, 'acme_');
    assert.ok(Object.isFrozen(metrics.config));
    assert.throws(() => createServerMetrics({ prefix: '9-bad' }), (error) => isKilnError(error, 'KILN_CORE_INVALID_ARGUMENT'));
    const mode = 'verbose' as unknown as 'log';
    assert.throws(() => createServerMetrics({ metricsMode: mode }), (error) => isKilnError(error, 'KILN_CORE_INVALID_ARGUMENT'));
  });

  it('records a negative or non-finite amount as 0 instead of throwing', async () => {
    const metrics = createServerMetrics({ hostname: HOST });
    metrics.recordInference(inference({ queueMs: -1, inferenceMs: Number.NaN, totalMs: Number.POSITIVE_INFINITY }));
    metrics.setQueueDepth('noop', '1.0', -3);
    const text = await body(metrics);
    assert.equal(sample(text, TS_METRIC.inferenceRequestsTotal), 1);
    assert.equal(sample(text, TS_METRIC.queueLatencyMicroseconds), 0);
    assert.equal(sample(text, TS_METRIC.inferenceLatencyMicroseconds), 0);
    assert.equal(sample(text, KILN_METRIC.queueDepth), 0);
  });
});
