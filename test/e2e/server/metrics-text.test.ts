/**
 * The metrics port's text and system families as config.properties chooses them:
 * `metrics_text_format=standard` drops TorchServe's trailing commas, `disable_system_metrics=true`
 * drops the system families, and `metrics_mode=legacy` keeps only the three ts_* families.
 * (The defaults, TorchServe's text with system metrics, are checklist item 46.)
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { call, startServer } from './harness.js';

async function scrape(properties: string[]): Promise<string> {
  const server = await startServer({ properties });
  try {
    // One answered request, so that Requests2XX has a sample.
    assert.equal((await call(`${server.inference}/ping`)).status, 200);
    return (await call(`${server.metrics}/metrics`)).text;
  } finally {
    assert.equal(await server.stop(), 0);
  }
}

describe('metrics text and system families by config', () => {
  test('metrics_text_format=standard and disable_system_metrics=true', async () => {
    const text = await scrape(['metrics_text_format=standard', 'disable_system_metrics=true']);
    assert.match(text, /^Requests2XX\{Level="Host",Hostname="[^"]+"\} 1\.0$/m);
    assert.doesNotMatch(text, /,\}/);
    assert.doesNotMatch(text, /CPUUtilization|MemoryUsed|DiskUsage/);
  });

  test('metrics_mode=legacy: no system families, ts_* in TorchServe text', async () => {
    const text = await scrape(['metrics_mode=legacy']);
    assert.doesNotMatch(text, /CPUUtilization|Requests2XX/);
    assert.match(text, /^# TYPE ts_inference_requests_total counter$/m);
  });
});
