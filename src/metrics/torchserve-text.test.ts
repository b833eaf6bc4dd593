import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createServerMetrics, createSystemSampler, javaDouble, renderTorchServeFamily, type ServerMetrics } from './index.js';

/**
 * The patterns TorchServe's own test_metrics.py matches on `GET /metrics` in prometheus mode,
 * re-expressed for a model named `noop` (its custom backend metrics, which kiln has no
 * counterpart for, left out). TorchServe asserts each matches exactly once.
 */
const PROMETHEUS_MODE_PATTERNS: readonly RegExp[] = [
  /TYPE Requests2XX counter/g,
  /Requests2XX\{Level="Host",Hostname=".+",\} \d+\.\d+/g,
  /TYPE ts_inference_requests_total counter/g,
  /ts_inference_requests_total\{model_name="noop",model_version="default",hostname=".+",\} \d+\.\d+/g,
  /TYPE ts_inference_latency_microseconds counter/g,
  /ts_inference_latency_microseconds\{model_name="noop",model_version="default",hostname=".+",\} \d+\.\d+/g,
  /TYPE ts_queue_latency_microseconds counter/g,
  /ts_queue_latency_microseconds\{model_name="noop",model_version="default",hostname=".+",\} \d+\.\d+/g,
  /TYPE QueueTime gauge/g,
  /QueueTime\{Level="Host",Hostname=".+",\} \d+\.\d+/g,
  /TYPE WorkerThreadTime gauge/g,
  /WorkerThreadTime\{Level="Host",Hostname=".+",\} \d+\.\d+/g,
  /TYPE WorkerLoadTime gauge/g,
  /WorkerLoadTime\{WorkerName=".+",Level="Host",Hostname=".+",\} \d+\.\d+/g,
  /TYPE CPUUtilization gauge/g,
  /CPUUtilization\{Level="Host",Hostname=".+",\} \d+\.\d+/g,
  /TYPE MemoryUsed gauge/g,
  /MemoryUsed\{Level="Host",Hostname=".+",\} \d+\.\d+/g,
  /TYPE MemoryAvailable gauge/g,
  /MemoryAvailable\{Level="Host",Hostname=".+",\} \d+\.\d+/g,
  /TYPE MemoryUtilization gauge/g,
  /MemoryUtilization\{Level="Host",Hostname=".+",\} \d+\.\d+/g,
  /TYPE DiskUsage gauge/g,
  /DiskUsage\{Level="Host",Hostname=".+",\} \d+\.\d+/g,
  /TYPE DiskUtilization gauge/g,
  /DiskUtilization\{Level="Host",Hostname=".+",\} \d+\.\d+/g,
  /TYPE DiskAvailable gauge/g,
  /DiskAvailable\{Level="Host",Hostname=".+",\} \d+\.\d+/g,
  /TYPE HandlerTime gauge/g,
  /HandlerTime\{ModelName="noop",Level="Model",Hostname=".+",\} \d+\.\d+/g,
  /TYPE PredictionTime gauge/g,
  /PredictionTime\{ModelName="noop",Level="Model",Hostname=".+",\} \d+\.\d+/g,
];

/** The three patterns of TorchServe's legacy-mode test. */
const LEGACY_MODE_PATTERNS = PROMETHEUS_MODE_PATTERNS.filter((pattern) => /ts_/.test(pattern.source));

/** Every family TorchServe's legacy-mode test requires to be absent (no GPU here). */
const NOT_IN_LEGACY = ['Requests2XX', 'QueueTime', 'WorkerThreadTime', 'WorkerLoadTime', 'CPUUtilization', 'MemoryUsed', 'DiskUsage', 'HandlerTime', 'PredictionTime'];

/** What one served request leaves behind, and one system reading of this host. */
async function served(metrics: ServerMetrics): Promise<void> {
  metrics.recordRequest(200);
  metrics.recordInference({ model: 'noop', version: '1.0', versionInUrl: false, queueMs: 0.25, inferenceMs: 3, totalMs: 4 });
  metrics.recordBatch({ model: 'noop', version: '1.0', size: 1, workerThreadMs: 0.5 });
  metrics.recordHandler({ model: 'noop', handlerMs: 2.5, predictionMs: 3 });
  metrics.recordWorkerLoad('noop', '1.0', 120, 'noop-1.0-1');
  metrics.recordSystem(await createSystemSampler({ nvidiaSmi: false }).sample());
}

function assertEachOnce(text: string, patterns: readonly RegExp[]): void {
  for (const pattern of patterns) {
    assert.equal(text.match(pattern)?.length ?? 0, 1, `pattern not found exactly once: ${pattern.source}\n${text}`);
  }
}

describe("TorchServe's Prometheus text", () => {
  it("matches TorchServe's own prometheus-mode patterns, each exactly once", async () => {
    const metrics = createServerMetrics({ hostname: 'h' });
    await served(metrics);
    assertEachOnce((await metrics.render()).body, PROMETHEUS_MODE_PATTERNS);
  });

  it("matches TorchServe's legacy-mode patterns, and its other families are absent", async () => {
    const metrics = createServerMetrics({ hostname: 'h', metricsMode: 'legacy' });
    await served(metrics);
    const text = (await metrics.render()).body;
    assertEachOnce(text, LEGACY_MODE_PATTERNS);
    for (const name of NOT_IN_LEGACY) assert.ok(!text.includes(name), `${name} in legacy mode:\n${text}`);
  });

  it("fails TorchServe's patterns in the standard form (so the test above can fail)", async () => {
    const metrics = createServerMetrics({ hostname: 'h' });
    await served(metrics);
    const text = (await metrics.render(undefined, { format: 'standard' })).body;
    assert.ok(PROMETHEUS_MODE_PATTERNS.filter((p) => p.source.includes('{')).every((p) => (text.match(p)?.length ?? 0) === 0));
  });

  it('writes kiln families in their standard form next to TorchServe ones', async () => {
    const metrics = createServerMetrics({ hostname: 'h' });
    await served(metrics);
    const text = (await metrics.render(['kiln_batch_size', 'Requests2XX'])).body;
    assert.match(text, /^Requests2XX\{Level="Host",Hostname="h",\} 1\.0$/m);
    assert.match(text, /^kiln_batch_size_count\{model_name="noop",model_version="1\.0"\} 1(\.0)?$/m);
  });

  it('writes numbers as Java doubles', () => {
    const cases: Array<[number, string]> = [
      [0, '0.0'],
      [-0, '-0.0'],
      [11, '11.0'],
      [3911.49609375, '3911.49609375'],
      [0.001, '0.001'],
      [0.0001, '1.0E-4'],
      [0.00012345, '1.2345E-4'],
      [9999999, '9999999.0'],
      [10_000_000, '1.0E7'],
      [12345678, '1.2345678E7'],
      [-2.5e21, '-2.5E21'],
      [Number.NaN, 'NaN'],
      [Number.POSITIVE_INFINITY, '+Inf'],
      [Number.NEGATIVE_INFINITY, '-Inf'],
    ];
    for (const [value, text] of cases) assert.equal(javaDouble(value), text, String(value));
  });

  it('orders labels as declared and escapes label values and help', () => {
    const text = renderTorchServeFamily(
      { name: 'X', help: 'a\\b\nc', type: 'gauge', values: [{ value: 1, labels: { Hostname: 'h"1\\\n', Level: 'Host' } }] },
      ['Level', 'Hostname'],
    );
    assert.equal(text, '# HELP X a\\\\b\\nc\n# TYPE X gauge\nX{Level="Host",Hostname="h\\"1\\\\\\n",} 1.0\n');
  });
});
