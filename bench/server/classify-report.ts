/**
 * What the `classify` suite prints: every measured configuration, then issue 14's acceptance 1
 * as ratios kiln / hand-written per model and image size, and the top-1 agreement of the two.
 */
import { table } from '../../src/cli/format.js';
import { quantile } from '../../src/evaluate/latency.js';
import type { DriveResult } from './clients.js';
import { f } from './report.js';

/** One configuration (model × size × contender × clients) and its rounds. */
export interface Cell {
  readonly model: string;
  readonly size: string;
  readonly contender: string;
  readonly clients: number;
  readonly results: DriveResult[];
}

interface Summary {
  readonly rate: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly ok: number;
  readonly errors: number;
  readonly cpuMsPerRequest: number;
  readonly top1: Map<number, string>;
}

function summarize(cell: Cell): Summary {
  const ok = cell.results.reduce((total, r) => total + r.ok, 0);
  const windowOk = cell.results.reduce((total, r) => total + r.windowOk, 0);
  const windowMs = cell.results.reduce((total, r) => total + r.windowMs, 0);
  const latencies = cell.results.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const top1 = new Map<number, string>();
  for (const r of cell.results) for (const [image, label] of r.top1) if (!top1.has(image)) top1.set(image, label);
  return {
    rate: (windowOk * 1000) / windowMs,
    p50: quantile(latencies, 0.5),
    p90: quantile(latencies, 0.9),
    p99: quantile(latencies, 0.99),
    ok,
    errors: cell.results.reduce((total, r) => total + r.errors, 0),
    cpuMsPerRequest: cell.results.reduce((total, r) => total + r.serverCpuMs, 0) / ok,
    top1,
  };
}

const mark = (pass: boolean) => (pass ? 'yes' : 'NO');

/** Prints both tables; `sizes` in the order they were measured. */
export function printClassify(cells: readonly Cell[], sizes: readonly string[]): void {
  const summaries = new Map(cells.map((cell) => [`${cell.model}|${cell.size}|${cell.contender}|${cell.clients}`, summarize(cell)]));
  const get = (model: string, size: string, contender: string, clients: number) => summaries.get(`${model}|${size}|${contender}|${clients}`);
  console.log('\nclassify 1. every configuration (req/s: valid answers within the measured window; latency: send to full answer as the client sees it, ms; raw rows: one serial iteration of batch b)');
  console.log(
    table(
      ['model', 'JPEG', 'contender', 'clients', 'req/s', 'p50', 'p90', 'p99', 'p99/p50', 'ok', 'errors', 'CPU ms/req'],
      cells.map((cell) => {
        const s = summaries.get(`${cell.model}|${cell.size}|${cell.contender}|${cell.clients}`)!;
        return [cell.model, cell.size, cell.contender, String(cell.clients), f(s.rate), f(s.p50, 2), f(s.p90, 2), f(s.p99, 2), f(s.p99 / s.p50, 2), String(s.ok), String(s.errors), f(s.cpuMsPerRequest, 2)];
      }),
    ),
  );
  console.log('(CPU ms/req: CPU time of the server process (all its threads) per answered request; for raw rows, of this process)');

  const models = [...new Set(cells.map((cell) => cell.model))];
  const rows: string[][] = [];
  const agreement: string[] = [];
  for (const model of models) {
    for (const size of sizes) {
      const camera = !size.startsWith('224');
      const target = camera ? 1.5 : 1.2;
      const k64 = get(model, size, 'kiln', 64);
      const h64 = get(model, size, 'hand-written', 64);
      const k1 = get(model, size, 'kiln', 1);
      const h1 = get(model, size, 'hand-written', 1);
      const raw = get(model, size, 'raw b1', 1);
      if (!k64 || !h64 || !k1 || !h1) continue;
      const ratio = k64.rate / h64.rate;
      const p50Diff = k1.p50 - h1.p50;
      const tail = k64.p99 / k64.p50;
      rows.push([
        model,
        size,
        `${f(ratio, 2)}× (${mark(ratio >= target)}, ≥ ${target})`,
        `${f(k1.p50, 2)} − ${f(h1.p50, 2)} = ${f(p50Diff, 2)} (${mark(p50Diff <= 1)}, ≤ 1)`,
        `${f(tail, 2)} (${mark(tail <= 1.5)}, ≤ 1.5)`,
        f(h64.p99 / h64.p50, 2),
        raw ? f(raw.p50, 2) : '-',
        f(k64.cpuMsPerRequest / h64.cpuMsPerRequest, 2),
      ]);
      const images = [...h64.top1.keys()].sort((a, b) => a - b);
      const same = images.filter((image) => k64.top1.get(image) === h64.top1.get(image)).length;
      const rawSame = raw ? images.filter((image) => raw.top1.get(image) === h64.top1.get(image)).length : 0;
      agreement.push(`${model} ${size}: kiln vs hand-written top-1 ${same}/${images.length} images agree; raw loop vs hand-written ${rawSame}/${images.length}`);
    }
  }
  console.log('\nclassify 2. issue 14 acceptance 1: kiln / hand-written, same run');
  console.log(
    table(['model', 'JPEG', 'req/s 64 clients', 'p50 1 client: kiln − hw ms', 'kiln p99/p50 64', 'hw p99/p50 64', 'raw b1 p50 ms', 'CPU/req kiln/hw'], rows),
  );
  console.log(agreement.join('\n'));
  console.log('(top-1 may differ where kiln\'s and sharp\'s resize kernels round differently on near-ties; the models are seeded, not trained, so many classes are close)');
}
