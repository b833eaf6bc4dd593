/** What the reliability tests read from Linux /proc: which processes run, and with what. */
import { readdirSync, readFileSync } from 'node:fs';

/** Pids whose command line contains `marker` (NUL-separated arguments joined by spaces). */
export function pidsWithArgument(marker: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').includes(marker)) found.push(Number(name));
    } catch {
      // The process ended while the folder was being read.
    }
  }
  return found;
}

/** True while `pid` exists and is not a zombie waiting for its parent. */
export function isRunning(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Polls `check` every 100 ms until it is true or `ms` pass; returns its last value. */
export async function eventually(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
