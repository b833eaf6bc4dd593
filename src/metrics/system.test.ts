import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { totalmem } from 'node:os';
import { createServerMetrics, createSystemSampler, parseNvidiaSmi, SYSTEM_METRIC, type SystemSample } from './index.js';

const PERCENT_KEYS = ['cpuUtilizationPercent', 'memoryUtilizationPercent', 'diskUtilizationPercent'] as const;

/** The value of a Level="Host" family for host `h`, from TorchServe's text. */
function hostValue(text: string, name: string): number | undefined {
  const match = new RegExp(`^${name}\\{Level="Host",Hostname="h",\\} (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : undefined;
}

describe('system metrics', () => {
  it('reads plausible figures from this host', async () => {
    const sampler = createSystemSampler({ nvidiaSmi: false });
    // Some CPU work between two samples, so utilization is measured over a real interval.
    const until = Date.now() + 50;
    while (Date.now() < until);
    const sample = await sampler.sample();
    for (const key of PERCENT_KEYS) assert.ok(sample[key] >= 0 && sample[key] <= 100, `${key} ${sample[key]}`);
    const totalMb = totalmem() / 2 ** 20;
    assert.ok(sample.memoryUsedMb > 0 && sample.memoryUsedMb < totalMb, `memoryUsedMb ${sample.memoryUsedMb}`);
    assert.ok(sample.memoryAvailableMb > 0 && sample.memoryAvailableMb <= totalMb, `memoryAvailableMb ${sample.memoryAvailableMb}`);
    assert.ok(sample.memoryUtilizationPercent > 0, 'some memory is in use');
    assert.ok(sample.diskUsageGb > 0 && sample.diskAvailableGb >= 0, JSON.stringify(sample));
    // percent = used / (used + available), the same figures rounded as psutil does.
    const disk = (sample.diskUsageGb / (sample.diskUsageGb + sample.diskAvailableGb)) * 100;
    assert.ok(Math.abs(disk - sample.diskUtilizationPercent) <= 0.05 + 1e-9, `${disk} vs ${sample.diskUtilizationPercent}`);
    assert.deepEqual(sample.gpus, []);
  });

  it('reports no GPU, and stops asking, where nvidia-smi does not exist', async () => {
    const sampler = createSystemSampler({ nvidiaSmi: '/nonexistent/nvidia-smi' });
    assert.deepEqual((await sampler.sample()).gpus, []);
    assert.deepEqual((await sampler.sample()).gpus, []);
    const metrics = createServerMetrics({ hostname: 'h' });
    metrics.recordSystem(await sampler.sample());
    const text = (await metrics.render()).body;
    assert.ok(hostValue(text, SYSTEM_METRIC.cpuUtilization) !== undefined, text);
    assert.doesNotMatch(text, /GPU/);
  });

  it('parses nvidia-smi rows and leaves out [N/A] fields', () => {
    assert.deepEqual(parseNvidiaSmi('0, 37, 1024, 81920\n1, [N/A], 0, 81920\nbogus\n'), [
      { deviceId: '0', utilizationPercent: 37, memoryUsedMb: 1024, memoryUtilizationPercent: 1.25 },
      { deviceId: '1', memoryUsedMb: 0, memoryUtilizationPercent: 0 },
    ]);
  });

  it('renders the system families with TorchServe names, units and labels; GPUs per DeviceId', async () => {
    const sample: SystemSample = {
      cpuUtilizationPercent: 12.5,
      memoryUsedMb: 3911.49609375,
      memoryAvailableMb: 8000,
      memoryUtilizationPercent: 33.3,
      diskUsageGb: 38.19880294799805,
      diskAvailableGb: 100,
      diskUtilizationPercent: 27.6,
      gpus: [{ deviceId: '0', utilizationPercent: 50, memoryUsedMb: 2048, memoryUtilizationPercent: 2.5 }],
    };
    const metrics = createServerMetrics({ hostname: 'h' });
    assert.doesNotMatch((await metrics.render()).body, /CPUUtilization/, 'absent until recorded');
    metrics.recordSystem(sample);
    let text = (await metrics.render()).body;
    assert.equal(hostValue(text, 'MemoryUsed'), 3911.49609375);
    assert.match(text, /^DiskUsage\{Level="Host",Hostname="h",\} 38\.19880294799805$/m);
    assert.match(text, /^# HELP MemoryAvailable Torchserve prometheus gauge metric with unit: Megabytes$/m);
    assert.match(text, /^# HELP DiskAvailable Torchserve prometheus gauge metric with unit: Gigabytes$/m);
    assert.match(text, /^# HELP CPUUtilization Torchserve prometheus gauge metric with unit: Percent$/m);
    assert.match(text, /^GPUUtilization\{Level="Host",DeviceId="0",Hostname="h",\} 50\.0$/m);
    assert.match(text, /^GPUMemoryUsed\{Level="Host",DeviceId="0",Hostname="h",\} 2048\.0$/m);
    assert.match(text, /^GPUMemoryUtilization\{Level="Host",DeviceId="0",Hostname="h",\} 2\.5$/m);
    // A GPU that leaves the sample leaves the page.
    metrics.recordSystem({ ...sample, gpus: [] });
    text = (await metrics.render()).body;
    assert.doesNotMatch(text, /GPU/);
    assert.equal(hostValue(text, 'CPUUtilization'), 12.5);
  });
});
