/**
 * The server under test: a `kiln serve --foreground` child process (so the load generator does
 * not share its event loop), the event-loop probe loaded into it, CPU accounting from /proc, and
 * a scrape of the metrics this bench checks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** A running `kiln serve` child: its listeners' URLs, and how to read its loop and stop it. */
export interface Server {
  readonly inference: string;
  readonly management: string;
  readonly metrics: string;
  readonly child: ChildProcess;
  stderr(): string;
  loop(): LoopStats | undefined;
  stop(): Promise<number | null>;
}

/** The server's own event-loop figures since the previous probe signal. */
export interface LoopStats {
  readonly seq: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly elu: number;
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/**
 * Starts `kiln serve --foreground` on ephemeral ports with `store` as its model store, and
 * resolves once it printed its addresses. `root` holds its config, logs and the loop probe;
 * `extraConfig` adds config.properties lines (e.g. `load_models=all`).
 */
export async function startServer(root: string, store: string, extraConfig: readonly string[] = []): Promise<Server> {
  const config = join(root, 'config.properties');
  writeFileSync(
    config,
    ['inference_address=http://127.0.0.1:0', 'management_address=http://127.0.0.1:0', 'metrics_address=http://127.0.0.1:0', `model_store=${store}`, ...extraConfig].join('\n'),
  );
  const kiln = new URL('../../bin/kiln.mjs', import.meta.url).pathname;
  const probe = join(root, 'loop-probe.mjs');
  const loopFile = join(root, 'loop.json');
  writeFileSync(probe, LOOP_PROBE);
  const child = spawn(process.execPath, ['--import', pathToFileURL(probe).href, kiln, 'serve', '--foreground', '--ncs', '--ts-config', config], {
    env: { ...process.env, LOG_LOCATION: join(root, 'logs'), KILN_LOG_LEVEL: 'warn', KILN_BENCH_LOOP_FILE: loopFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // The server prints its startup block (config, then one `<api> <address>` line per API) in one write.
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.endsWith('\n')) resolve(out);
    });
    child.once('exit', (code) => reject(new Error(`kiln serve exited with ${code}: ${stderr}`)));
  });
  const found = (api: string) => new RegExp(`^${api} +(http://\\S+)$`, 'm').exec(line)?.[1] ?? '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    inference: found('inference'),
    management: found('management'),
    metrics: found('metrics'),
    child,
    stderr: () => stderr,
    loop: () => {
      try {
        return JSON.parse(readFileSync(loopFile, 'utf8')) as LoopStats;
      } catch {
        return undefined;
      }
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Children still running when this process exits (normally or by a signal) are killed with it. */
const children = new Set<ChildProcess>();
let hooked = false;
function killOnExit(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const running of children) running.kill('SIGKILL');
  });
  // `on`, not `once`: a second signal (npm and tsx relay Ctrl-C to the group again) must not
  // fall back to the default action and kill this process halfway through its 'exit' cleanup.
  let exiting = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (exiting) return;
      exiting = true;
      for (const running of children) running.kill('SIGKILL');
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

/** The hand-written baseline server (handwritten.ts) as a child process. */
export interface PlainServer {
  readonly url: string;
  readonly child: ChildProcess;
  stderr(): string;
  stop(): Promise<number | null>;
}

/** Starts handwritten.ts on an ephemeral port serving `models` (name → .onnx), once it listens. */
export function startHandwritten(models: Readonly<Record<string, string>>): Promise<PlainServer> {
  return startListening('./handwritten.ts', Object.entries(models).flatMap(([name, file]) => ['--model', `${name}=${file}`]));
}

/** Starts bare.ts (node:http, reads the body, fixed answer): the HTTP floor of the ceiling bench. */
export function startBare(): Promise<PlainServer> {
  return startListening('./bare.ts', []);
}

/** Starts a bench script beside this file on port 0; resolves once it prints `listening URL`. */
async function startListening(relative: string, extraArgs: readonly string[]): Promise<PlainServer> {
  const script = new URL(relative, import.meta.url).pathname;
  const args = ['--import', 'tsx', script, '--port', '0', ...extraArgs];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: new URL('../..', import.meta.url).pathname });
  killOnExit(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const found = /^listening (http:\S+)$/m.exec(out);
      if (found) resolve(found[1]!);
    });
    child.once('exit', (code) => reject(new Error(`${relative} exited with ${code}: ${stderr}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    url,
    child,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * Loaded into the server with `--import`: on SIGUSR2 it writes the event-loop delay (timer
 * lateness at 5 ms resolution) and utilization since the previous signal, then resets them. It
 * measures the server's own loop, which /ping (also delayed by the network and the scheduler)
 * only approximates.
 */
const LOOP_PROBE = `
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
const out = process.env.KILN_BENCH_LOOP_FILE;
const delay = monitorEventLoopDelay({ resolution: 5 });
delay.enable();
let elu = performance.eventLoopUtilization();
let seq = 0;
process.on('SIGUSR2', () => {
  const used = performance.eventLoopUtilization(elu);
  writeFileSync(out, JSON.stringify({ seq: ++seq, p50: delay.percentile(50) / 1e6, p99: delay.percentile(99) / 1e6, max: delay.max / 1e6, elu: used.utilization }));
  delay.reset();
  elu = performance.eventLoopUtilization();
});
`;

/** Asks the server's loop probe for its figures since the last call (and resets them). */
export async function serverLoop(server: Server): Promise<LoopStats | undefined> {
  const previous = server.loop()?.seq ?? 0;
  server.child.kill('SIGUSR2');
  for (let attempt = 0; attempt < 200; attempt++) {
    const stats = server.loop();
    if (stats && stats.seq > previous) return stats;
    await sleep(5);
  }
  return undefined;
}

/** Busy time of the whole machine in ms (Linux /proc/stat, steal included), or NaN elsewhere. */
export function machineBusyMs(): number {
  try {
    const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = ticks as number[];
    return ((user! + nice! + system! + irq! + softirq! + (steal ?? 0)) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

/** utime + stime of a process in ms (Linux /proc), or NaN elsewhere. */
export function processCpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // After "pid (comm) ", utime and stime are fields 12 and 13 (0-based), in clock ticks (100 Hz).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Sums and counts of the histograms and counters this bench reads, for one model. */
export async function scrape(metricsUrl: string, model: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const read = (family: string) =>
    text
      .split('\n')
      .filter((line) => line.startsWith(`${family}{`) && line.includes(`model_name="${model}"`))
      .reduce((total, line) => total + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  return {
    batchSum: read('kiln_batch_size_sum'),
    batchCount: read('kiln_batch_size_count'),
    handlerSum: read('kiln_inference_latency_seconds_sum'),
    handlerCount: read('kiln_inference_latency_seconds_count'),
    queueSum: read('kiln_queue_latency_seconds_sum'),
    requests: read('ts_inference_requests_total'),
  };
}
