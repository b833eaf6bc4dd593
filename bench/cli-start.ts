/**
 * How fast the `kiln` command starts (issue 12): `kiln --help` run 10 times, from the compiled
 * package (dist/cli/bin.js, what an installed kiln runs) and from the sources through tsx
 * (bin/kiln.mjs, the checkout's command) side by side; then `kiln serve --foreground` with no
 * models, temporary folders and free ports, timed from the spawn to the first Healthy `/ping`.
 * Medians are reported with the min and max. Run `npm run build` first.
 *
 *   npm run bench:cli [-- --runs 10]
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { table } from '../src/cli/format.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' } } });
const RUNS = Number(values.runs);
const DIST = new URL('../dist/cli/bin.js', import.meta.url).pathname;
const SOURCE = new URL('../bin/kiln.mjs', import.meta.url).pathname;
if (!existsSync(DIST)) throw new Error('dist/cli/bin.js is missing: run npm run build first');

function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function timeHelp(bin: string): number[] {
  const samples: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const start = performance.now();
    const result = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
    samples.push(performance.now() - start);
    if (result.status !== 0) throw new Error(`${bin} --help failed: ${result.stderr}`);
  }
  return samples;
}

/** Spawns `kiln serve --foreground` on free ports and resolves with the ms until /ping says Healthy. */
async function timeServe(bin: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-cli-'));
  const config = join(dir, 'config.properties');
  writeFileSync(
    config,
    ['inference_address=http://127.0.0.1:0', 'management_address=http://127.0.0.1:0', 'metrics_address=http://127.0.0.1:0', 'disable_token_authorization=true'].join('\n'),
  );
  const start = performance.now();
  const child = spawn(process.execPath, [bin, 'serve', '--foreground', '--ncs', '--model-store', dir, '--ts-config', config], {
    cwd: dir,
    env: { ...process.env, LOG_LOCATION: join(dir, 'logs'), KILN_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    let stdout = '';
    const inference = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
        const found = /^inference\s+(\S+)/m.exec(stdout);
        if (found) resolve(found[1]!);
      });
      child.once('exit', (code) => reject(new Error(`kiln serve exited (${code}) before listening: ${stdout}`)));
    });
    for (;;) {
      const answer = await fetch(`${inference}/ping`).then((response) => response.json() as Promise<{ status?: string }>, () => undefined);
      if (answer?.status === 'Healthy') return performance.now() - start;
      await new Promise((done) => setTimeout(done, 5));
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((done) => child.once('exit', done));
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows: string[][] = [];
const format = (samples: readonly number[]) => [median(samples), Math.min(...samples), Math.max(...samples)].map((ms) => `${ms.toFixed(0)} ms`);
const helpDist = timeHelp(DIST);
const helpSource = timeHelp(SOURCE);
rows.push(['kiln --help', 'dist (installed)', ...format(helpDist)]);
rows.push(['kiln --help', 'sources (tsx)', ...format(helpSource)]);
const serveRuns = Math.max(3, Math.ceil(RUNS / 2));
const serveDist: number[] = [];
const serveSource: number[] = [];
for (let run = 0; run < serveRuns; run++) {
  serveDist.push(await timeServe(DIST));
  serveSource.push(await timeServe(SOURCE));
}
rows.push(['kiln serve → Healthy /ping', 'dist (installed)', ...format(serveDist)]);
rows.push(['kiln serve → Healthy /ping', 'sources (tsx)', ...format(serveSource)]);
console.log(`${RUNS} runs of --help, ${serveRuns} of serve, interleaved per start; node ${process.version}`);
console.log(table(['what', 'from', 'median', 'min', 'max'], rows));
console.log(`--help from dist is ${(median(helpSource) / median(helpDist)).toFixed(1)}x faster than from the sources`);
