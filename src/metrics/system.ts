/**
 * Host figures for TorchServe's system families (CPUUtilization, Memory*, Disk*, GPU*), measured
 * the way TorchServe's psutil calls measure them, from what the OS offers Node: `os.cpus()` tick
 * counters, `/proc/meminfo` (else `os.totalmem/freemem`), `statfs('/')`, and `nvidia-smi` for
 * GPUs. A host without `nvidia-smi` reports no GPU, and is not asked again.
 */
import { execFile } from 'node:child_process';
import { readFile, statfs } from 'node:fs/promises';
import { cpus, freemem, totalmem } from 'node:os';

/** One GPU's figures; a field is absent when the driver reports it as not available. */
export interface GpuSample {
  /** The driver's index of the device, TorchServe's `DeviceId` label. */
  readonly deviceId: string;
  readonly utilizationPercent?: number;
  readonly memoryUsedMb?: number;
  readonly memoryUtilizationPercent?: number;
}

/** One reading of the host, in TorchServe's units (MB and GB are 2^20 and 2^30 bytes, as psutil's callers divide). */
export interface SystemSample {
  /** Busy share of all cores since the previous sample (since the sampler was made, at first), 0–100. */
  readonly cpuUtilizationPercent: number;
  readonly memoryUsedMb: number;
  readonly memoryAvailableMb: number;
  /** (total − available) / total, 0–100. */
  readonly memoryUtilizationPercent: number;
  readonly diskUsageGb: number;
  readonly diskAvailableGb: number;
  /** used / (used + available to users), 0–100, as psutil's disk_usage. */
  readonly diskUtilizationPercent: number;
  /** Empty where no GPU is present. */
  readonly gpus: readonly GpuSample[];
}

/** Takes {@link SystemSample}s. */
export interface SystemSampler {
  sample(): Promise<SystemSample>;
}

/** Options of {@link createSystemSampler}. */
export interface SystemSamplerOptions {
  /** The file system whose usage is reported. @defaultValue '/' (TorchServe's) */
  readonly diskPath?: string;
  /** The NVIDIA tool asked for GPU figures; `false` for none. @defaultValue 'nvidia-smi' */
  readonly nvidiaSmi?: string | false;
}

const MB = 1024 * 1024;
const GB = 1024 * MB;
/** psutil rounds its percentages to one decimal. */
const round1 = (value: number): number => Math.round(value * 10) / 10;
const clampPercent = (value: number): number => round1(Math.min(100, Math.max(0, Number.isFinite(value) ? value : 0)));

/**
 * A sampler of this host.
 * @example const sample = await createSystemSampler().sample(); sample.memoryUtilizationPercent // e.g. 41.3
 */
export function createSystemSampler(options: SystemSamplerOptions = {}): SystemSampler {
  const diskPath = options.diskPath ?? '/';
  let gpuTool: string | false = options.nvidiaSmi ?? 'nvidia-smi';
  let previous = cpuTicks();
  return {
    async sample() {
      const ticks = cpuTicks();
      const cpu = busyPercent(previous, ticks);
      previous = ticks;
      const [memory, disk, gpus] = await Promise.all([
        readMemory(),
        readDisk(diskPath),
        gpuTool === false
          ? Promise.resolve([])
          : readNvidiaGpus(gpuTool).catch((error: NodeJS.ErrnoException) => {
              // No such tool: no GPU here, now or later. Other failures may pass; try next time.
              if (error.code === 'ENOENT') gpuTool = false;
              return [];
            }),
      ]);
      return { cpuUtilizationPercent: cpu, ...memory, ...disk, gpus };
    },
  };
}

interface Ticks {
  readonly busy: number;
  readonly total: number;
}

function cpuTicks(): Ticks {
  let busy = 0;
  let total = 0;
  for (const { times } of cpus()) {
    const all = times.user + times.nice + times.sys + times.irq + times.idle;
    total += all;
    busy += all - times.idle;
  }
  return { busy, total };
}

function busyPercent(before: Ticks, after: Ticks): number {
  const total = after.total - before.total;
  return total > 0 ? clampPercent(((after.busy - before.busy) / total) * 100) : 0;
}

type MemoryFigures = Pick<SystemSample, 'memoryUsedMb' | 'memoryAvailableMb' | 'memoryUtilizationPercent'>;

/** psutil's virtual_memory on Linux: used = total − free − buffers − cached (cached includes SReclaimable). */
async function readMemory(): Promise<MemoryFigures> {
  const info = await readFile('/proc/meminfo', 'utf8').then(parseMeminfo, () => undefined);
  const total = info?.get('MemTotal') ?? totalmem();
  const free = info?.get('MemFree') ?? freemem();
  const available = info?.get('MemAvailable') ?? freemem();
  const cached = (info?.get('Cached') ?? 0) + (info?.get('SReclaimable') ?? 0);
  let used = total - free - (info?.get('Buffers') ?? 0) - cached;
  if (used < 0) used = total - free;
  return {
    memoryUsedMb: used / MB,
    memoryAvailableMb: available / MB,
    memoryUtilizationPercent: total > 0 ? clampPercent(((total - available) / total) * 100) : 0,
  };
}

/** `Key:   123 kB` lines, in bytes. */
function parseMeminfo(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const match of text.matchAll(/^(\w+):\s+(\d+)(?: kB)?$/gm)) values.set(match[1]!, Number(match[2]) * 1024);
  return values;
}

type DiskFigures = Pick<SystemSample, 'diskUsageGb' | 'diskAvailableGb' | 'diskUtilizationPercent'>;

/** psutil's disk_usage: the root-reserved blocks count as neither used nor available. */
async function readDisk(path: string): Promise<DiskFigures> {
  const stats = await statfs(path);
  const used = (stats.blocks - stats.bfree) * stats.bsize;
  const available = stats.bavail * stats.bsize;
  return {
    diskUsageGb: used / GB,
    diskAvailableGb: available / GB,
    diskUtilizationPercent: used + available > 0 ? clampPercent((used / (used + available)) * 100) : 0,
  };
}

async function readNvidiaGpus(tool: string): Promise<GpuSample[]> {
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      tool,
      ['--query-gpu=index,utilization.gpu,memory.used,memory.total', '--format=csv,noheader,nounits'],
      { timeout: 5000, windowsHide: true },
      (error, out) => (error ? reject(error) : resolve(out)),
    );
  });
  return parseNvidiaSmi(stdout);
}

/**
 * Rows of `nvidia-smi --query-gpu=index,utilization.gpu,memory.used,memory.total
 * --format=csv,noheader,nounits`; `[N/A]` fields are left out, as TorchServe skips `N/A`.
 * @example parseNvidiaSmi('0, 37, 1024, 81920\n') // [{deviceId: '0', utilizationPercent: 37, memoryUsedMb: 1024, memoryUtilizationPercent: 1.25}]
 */
export function parseNvidiaSmi(stdout: string): GpuSample[] {
  const gpus: GpuSample[] = [];
  for (const line of stdout.split('\n')) {
    const [index, utilization, used, total] = line.split(',').map((field) => field.trim());
    if (!index || !/^\d+$/.test(index)) continue;
    const number = (field: string | undefined): number | undefined =>
      field !== undefined && /^\d+(\.\d+)?$/.test(field) ? Number(field) : undefined;
    const usedMb = number(used);
    const totalMb = number(total);
    const utilizationPercent = number(utilization);
    gpus.push({
      deviceId: index,
      ...(utilizationPercent !== undefined ? { utilizationPercent } : {}),
      ...(usedMb !== undefined ? { memoryUsedMb: usedMb } : {}),
      ...(usedMb !== undefined && totalMb ? { memoryUtilizationPercent: (usedMb / totalMb) * 100 } : {}),
    });
  }
  return gpus;
}
