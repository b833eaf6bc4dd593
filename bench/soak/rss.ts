/** Resident memory of a process and all its descendants (worker processes), from Linux /proc. */
import { readdirSync, readFileSync } from 'node:fs';

/** The parent of every process now running, by pid. */
function parents(): Map<number, number> {
  const found = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // After "pid (comm) ", the state is field 0 and the parent pid field 1; comm may hold spaces.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      found.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // It ended while being read.
    }
  }
  return found;
}

function rssBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** RSS of `root` plus every descendant, and how many processes that is. */
export function treeRss(root: number): { bytes: number; processes: number } {
  const parentOf = parents();
  const tree = new Set([root]);
  // Parents usually have lower pids, but pids wrap: repeat until nothing is added.
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, parent] of parentOf) {
      if (!tree.has(pid) && tree.has(parent)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return { bytes: [...tree].reduce((sum, pid) => sum + rssBytes(pid), 0), processes: tree.size };
}
