/**
 * The `classify` suite's load: N keep-alive clients (64 for throughput, 1 for latency) POST JPEG
 * bodies, cycled, to one model of one server, for a while. Every answer is checked (a 200 whose
 * JSON is five `{label: probability}` entries) and each image's top-1 label is kept, so kiln's
 * and the hand-written server's answers for the same image can be compared.
 */
import http from 'node:http';
import { processCpuMs } from './child.js';
import { predictionsPath, send, type Reply, type RequestKind } from './load.js';

/** What one load phase measured. */
export interface DriveResult {
  readonly ok: number;
  readonly errors: number;
  readonly statuses: Map<number, number>;
  /** From the first request to the last answer (the requests in flight at the deadline drain). */
  readonly elapsedMs: number;
  /** Valid answers that arrived before the deadline, and the window's length: the throughput. */
  readonly windowOk: number;
  readonly windowMs: number;
  /** One per answered request, ms. */
  readonly latencies: number[];
  /** CPU time of the server process over the phase (ms; NaN off Linux). */
  readonly serverCpuMs: number;
  /** Top-1 label of each body (by index), from its first valid answer. */
  readonly top1: Map<number, string>;
}

/** The most probable label of a top-5 answer, or undefined when the body is not one. */
export function topLabel(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    const entries = Object.entries(body);
    if (entries.length !== 5 || !entries.every(([, p]) => typeof p === 'number' && p >= 0 && p <= 1)) return undefined;
    return entries.reduce((best, entry) => ((entry[1] as number) > (best[1] as number) ? entry : best))[0];
  } catch {
    return undefined;
  }
}

/**
 * Runs `clients` clients against `${base}/predictions/${model}` for `ms`, request i carrying
 * `bodies[i % bodies.length]`; `pid` is the server process whose CPU is read.
 */
export async function drive(base: string, model: string, bodies: readonly Buffer[], clients: number, ms: number, pid: number | undefined): Promise<DriveResult> {
  const url = new URL(`${base}${predictionsPath(model)}`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const kinds: RequestKind[] = bodies.map((body) => ({ method: 'POST', path: predictionsPath, contentType: 'image/jpeg', body, valid: (text) => topLabel(text) !== undefined }));
  const statuses = new Map<number, number>();
  const latencies: number[] = [];
  const top1 = new Map<number, string>();
  let next = 0;
  let ok = 0;
  let windowOk = 0;
  let errors = 0;
  const cpu = processCpuMs(pid);
  const start = performance.now();
  const deadline = start + ms;
  const client = async () => {
    while (performance.now() < deadline) {
      const id = next++;
      const image = id % kinds.length;
      const sentAt = performance.now();
      let reply: Reply;
      try {
        reply = await send(agent, url, kinds[image]!, id);
      } catch {
        errors++;
        continue;
      }
      latencies.push(performance.now() - sentAt);
      statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
      const label = reply.status === 200 ? topLabel(reply.body) : undefined;
      if (label === undefined) {
        errors++;
        continue;
      }
      ok++;
      if (performance.now() <= deadline) windowOk++;
      if (!top1.has(image)) top1.set(image, label);
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  const elapsedMs = performance.now() - start;
  const serverCpuMs = processCpuMs(pid) - cpu;
  agent.destroy();
  return { ok, errors, statuses, elapsedMs, windowOk, windowMs: ms, latencies, serverCpuMs, top1 };
}
