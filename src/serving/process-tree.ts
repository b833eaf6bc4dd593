import { readdirSync, readFileSync } from 'node:fs';

/** A process, told apart from a later one that reuses its pid by its start time. */
export interface ProcessIdentity {
  readonly pid: number;
  /** Clock ticks after boot (`/proc/<pid>/stat` field 22). */
  readonly startTime: string;
}

/** ppid and start time of one process from `/proc/<pid>/stat`; the name may hold spaces and ')'. */
function readStat(pid: number): { ppid: number; startTime: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): ppid is field 4, starttime field 22.
    return { ppid: Number(fields[1]), startTime: fields[19]! };
  } catch {
    return undefined;
  }
}

/**
 * Every process descending from `root` (children, their children…), from one pass over /proc.
 * A handler's child that starts its own session or group (`detached: true`, `setsid`) leaves the
 * worker's process group but not this tree, as long as its parent lives. Empty where there is no
 * /proc.
 */
export function descendantsOf(root: number): ProcessIdentity[] {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  const children = new Map<number, ProcessIdentity[]>();
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const stat = readStat(pid);
    if (!stat) continue;
    const siblings = children.get(stat.ppid) ?? [];
    siblings.push({ pid, startTime: stat.startTime });
    children.set(stat.ppid, siblings);
  }
  const found: ProcessIdentity[] = [];
  const visit = (pid: number) => {
    for (const child of children.get(pid) ?? []) {
      found.push(child);
      visit(child.pid);
    }
  };
  visit(root);
  return found;
}

/** SIGKILL to each process that is still the one recorded (same pid and start time). */
export function killIdentified(processes: Iterable<ProcessIdentity>): void {
  for (const { pid, startTime } of processes) {
    if (readStat(pid)?.startTime !== startTime) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
}
